package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// Ratio is the first result's decided/s over the best of the others', or 0
// when there are no others or none decided anything.
func Ratio(results []*Result) float64 {
	if len(results) < 2 {
		return 0
	}
	best := 0.0
	for _, r := range results[1:] {
		best = max(best, r.DecidedPerSec)
	}
	if best == 0 {
		return 0
	}
	return results[0].DecidedPerSec / best
}

// MedianRatio is the median of the rounds' ratios (see Ratio).
func MedianRatio(rounds [][]*Result) float64 { return median(ratios(rounds)) }

func ratios(rounds [][]*Result) []float64 {
	rs := make([]float64, len(rounds))
	for i, row := range rounds {
		rs[i] = Ratio(row)
	}
	return rs
}

// median of xs, 0 for none; xs is left as it was.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	xs = slices.Sorted(slices.Values(xs))
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// WriteRounds prints a comparison run in several rounds: each round's
// decided/s and p99 per system, the ratio of the first system to the best
// of the others within the round, and the median and lowest ratio. Every
// row of rounds holds the same systems in the same order.
func WriteRounds(w io.Writer, rounds [][]*Result) {
	if len(rounds) == 0 || len(rounds[0]) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"round"}
	for _, r := range rounds[0] {
		head = append(head, r.Name+" /s")
	}
	for _, r := range rounds[0] {
		head = append(head, r.Name+" p99 ms")
	}
	head = append(head, "ratio")
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	rs := ratios(rounds)
	for i, row := range rounds {
		cells := []string{fmt.Sprint(i + 1)}
		for _, r := range row {
			cells = append(cells, fmt.Sprintf("%.0f", r.DecidedPerSec))
		}
		for _, r := range row {
			cells = append(cells, fmt.Sprintf("%.2f", r.Latency.P99))
		}
		cells = append(cells, fmt.Sprintf("%.2fx", rs[i]))
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "%s over the best of the others: median %.2fx, lowest %.2fx over %d rounds\n",
		rounds[0][0].Name, median(rs), slices.Min(rs), len(rounds))
}
