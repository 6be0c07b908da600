package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
)

// Report collects the figures as Markdown (written as they come, so a run
// that fails half-way still shows what it measured) and as JSON.
type Report struct {
	mu      sync.Mutex
	md      io.Writer
	figures map[string]any
}

// NewReport writes Markdown to md.
func NewReport(md io.Writer) *Report { return &Report{md: md, figures: map[string]any{}} }

// Printf writes a line of Markdown.
func (r *Report) Printf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.md, format+"\n", args...)
}

// Table writes a Markdown table.
func (r *Report) Table(header []string, rows [][]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.md, "\n| %s |\n|%s\n", strings.Join(header, " | "), strings.Repeat(" --- |", len(header)))
	for _, row := range rows {
		fmt.Fprintf(r.md, "| %s |\n", strings.Join(row, " | "))
	}
	fmt.Fprintln(r.md)
}

// Set records a figure for the JSON output.
func (r *Report) Set(key string, v any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.figures[key] = v
}

// WriteJSON writes every figure, keys sorted.
func (r *Report) WriteJSON(path string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := make([]string, 0, len(r.figures))
	for k := range r.figures {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	ordered := make(map[string]any, len(keys))
	for _, k := range keys {
		ordered[k] = r.figures[k]
	}
	b, err := json.MarshalIndent(ordered, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Formatting helpers.

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }

func num(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100:
		return commas(int64(v + 0.5))
	case v >= 10:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.1f", v)
	}
}

func commas(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func ratio(base, ours float64) string {
	if ours <= 0 {
		if base <= 0 {
			return "–"
		}
		return "∞ (ours: 0)"
	}
	return fmt.Sprintf("%.1f×", base/ours)
}

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
