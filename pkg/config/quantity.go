package config

import (
	"math/big"
	"strconv"
	"strings"
)

// maxBytes is the largest byte count a setting takes (2 GiB).
const maxBytes = 1 << 31

// The suffixes of a Kubernetes quantity, as multipliers: binary (Ki … Ei)
// and decimal (n, u, m, k, M, G, T, P, E; none is 1).
var quantitySuffixes = map[string]*big.Rat{
	"": big.NewRat(1, 1), "n": big.NewRat(1, 1_000_000_000), "u": big.NewRat(1, 1_000_000), "m": big.NewRat(1, 1000),
	"k": pow(10, 3), "M": pow(10, 6), "G": pow(10, 9), "T": pow(10, 12), "P": pow(10, 15), "E": pow(10, 18),
	"Ki": pow(2, 10), "Mi": pow(2, 20), "Gi": pow(2, 30), "Ti": pow(2, 40), "Pi": pow(2, 50), "Ei": pow(2, 60),
}

func pow(base, exp int64) *big.Rat {
	return new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(base), big.NewInt(exp), nil))
}

// parseBytes reads a byte count written as a Kubernetes quantity (the
// syntax of resource.Quantity, which the chart's values use: 8388608, 8Mi,
// 8M, 1.5Gi, 1e6), from 0 to maxBytes, rounded up to a whole byte as
// Quantity.Value rounds. A decimal exponent of three digits or more is
// refused: no byte count needs one.
//
// It is not apimachinery's parser so that catops, the host agent, links no
// Kubernetes package; FuzzParseBytes checks that the two agree on every
// input with a digit. One without digits ("Mi", ".") is refused.
func parseBytes(raw string) (int64, bool) {
	// <sign><digits>[.<digits>]<suffix>
	s := raw
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intPart := s[:i]
	frac := ""
	if i < len(s) && s[i] == '.' {
		j := i + 1
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		frac, i = s[i+1:j], j
	}
	if intPart == "" && frac == "" {
		// "Mi", ".": apimachinery reads some of these as 0 and refuses
		// others; no byte count is written so.
		return 0, false
	}
	num, ok := new(big.Rat).SetString(orZero(intPart) + "." + orZero(frac))
	if !ok {
		return 0, false
	}
	suffix := s[i:]
	if mult, ok := quantitySuffixes[suffix]; ok {
		num.Mul(num, mult)
	} else {
		exp, ok := decimalExponent(suffix)
		if !ok {
			return 0, false
		}
		if exp >= 0 {
			num.Mul(num, pow(10, exp))
		} else {
			num.Quo(num, pow(10, -exp))
		}
	}
	if num.Sign() == 0 {
		return 0, true
	}
	if neg || num.Cmp(big.NewRat(maxBytes, 1)) > 0 {
		return 0, false
	}
	// Rounded up to a whole byte.
	q, r := new(big.Int).QuoRem(num.Num(), num.Denom(), new(big.Int))
	if r.Sign() != 0 {
		q.Add(q, big.NewInt(1))
	}
	return q.Int64(), true
}

// decimalExponent reads the suffix e<n> or E<n>, n a signed integer of one
// or two digits.
func decimalExponent(suffix string) (int64, bool) {
	if len(suffix) < 2 || (suffix[0] != 'e' && suffix[0] != 'E') {
		return 0, false
	}
	digits := strings.TrimLeft(suffix[1:], "+-")
	if len(suffix[1:])-len(digits) > 1 || digits == "" || len(digits) > 2 || strings.IndexFunc(digits, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(suffix[1:], 10, 64)
	return n, err == nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func orZero(digits string) string {
	if digits == "" {
		return "0"
	}
	return digits
}
