package config

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/api/resource"
)

// apimachineryBytes is what the agent read before it had its own parser:
// apimachinery's quantity, from 0 to maxBytes, rounded up by Value, with
// decimal exponents of three digits or more refused first (ParseQuantity
// would take minutes to expand 1e-999999999).
func apimachineryBytes(raw string) (int64, bool) {
	if regexp.MustCompile(`[eE][-+]?[0-9]{3,}$`).MatchString(raw) {
		return 0, false
	}
	q, err := resource.ParseQuantity(raw)
	if err != nil || q.Sign() < 0 || q.Cmp(*resource.NewQuantity(maxBytes, resource.BinarySI)) > 0 {
		return 0, false
	}
	return q.Value(), true
}

// numberHasDigits: the number before the suffix has a digit ("Mi", ".",
// "e6" have none).
func numberHasDigits(raw string) bool {
	return regexp.MustCompile(`^[-+]?(\.?[0-9])`).MatchString(raw)
}

var quantitySeeds = []string{
	"8388608", "8Mi", "8M", "1.5Gi", "1e6", "1E6", "1e+6", "1e-3", "500m", "0.5", ".5", "5.", ".", "", "-1", "-0", "+8Mi",
	"2Gi", "2147483648", "2147483649", "2Gi1", "2.0000000001Gi", "1Ki", "1k", "1K", "1m", "1mi", "1Mb", "1 Mi", "Mi", "e6",
	"1e", "1e+", "1e++6", "1e100", "1e-100", "1e09", "01", "0x10", "1_000", "1.2.3", "１", "8Mi ", "1ee6", "1.5e1Ki", "9E-1",
	"0.0000000000000000000001", "1e-99", "2147483648.0000001", "-0.0", "+.5m", "1E", "1P", "1Ei",
}

func TestParseBytesAgreesWithApimachinery(t *testing.T) {
	for _, raw := range quantitySeeds {
		n, ok := parseBytes(raw)
		if !numberHasDigits(raw) {
			assert.False(t, ok, "%q: no digits", raw)
			continue
		}
		wantN, wantOK := apimachineryBytes(raw)
		assert.Equal(t, wantOK, ok, "%q accepted", raw)
		assert.Equal(t, wantN, n, "%q", raw)
	}
	n, ok := parseBytes("8Mi")
	assert.True(t, ok)
	assert.Equal(t, int64(8<<20), n)
}

// FuzzParseBytes: the agent's parser and apimachinery's agree on every
// input with a digit; one without is refused.
func FuzzParseBytes(f *testing.F) {
	for _, s := range quantitySeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		n, ok := parseBytes(raw)
		if !numberHasDigits(raw) {
			if ok {
				t.Fatalf("%q: no digits, read as %d", raw, n)
			}
			return
		}
		wantN, wantOK := apimachineryBytes(raw)
		if ok != wantOK || n != wantN {
			t.Fatalf("%q: parseBytes %d, %v; apimachinery %d, %v", raw, n, ok, wantN, wantOK)
		}
	})
}
