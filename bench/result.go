package bench

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Result is one run's report. Latencies are in milliseconds.
type Result struct {
	Name     string   `json:"name"`
	Round    int      `json:"round,omitempty"` // with ordo bench --compare --rounds: which round, from 1
	URL      string   `json:"url"`
	Mode     string   `json:"mode"` // "closed" or "open"
	Clients  int      `json:"clients"`
	Rate     float64  `json:"rate,omitempty"`
	Workload Workload `json:"workload"`
	Seconds  float64  `json:"seconds"`

	Requests int64 `json:"requests"`
	Applied  int64 `json:"applied"`
	Rejected int64 `json:"rejected"` // decided, refused for a business reason (insufficient funds)
	Errors   int64 `json:"errors"`   // transport errors and 5xx
	Resolved int64 `json:"resolved"` // outcomes learnt after the run by resending the key
	// Replays are the requests that re-sent an earlier command, its body
	// and Idempotency-Key (Config.ReplayPercent); they are counted in
	// Requests, not in Applied or Rejected.
	Replays int64 `json:"replays"`
	// Codes counts answers by status (and problem code).
	Codes map[string]int64 `json:"codes"`

	// DecidedPerSec is the successful commands per second: applied or
	// refused for a business reason, each a final, correct answer.
	DecidedPerSec float64        `json:"decided_per_sec"`
	AppliedPerSec float64        `json:"applied_per_sec"`
	Latency       LatencySummary `json:"latency_ms"`
	Timeline      []Point        `json:"timeline"`
	// Windows is the decided commands per second in each WindowSeconds
	// window of the run, from the timeline; the last window may be shorter.
	Windows []float64 `json:"windows_5s"`
	Audit   Audit     `json:"audit"`
	// Preloaded: the accounts were loaded before the run (Config.Preloaded),
	// and the audit read only those the run touched.
	Preloaded bool `json:"preloaded,omitempty"`

	net     map[int]int64
	touched map[int]bool
}

// LatencySummary holds percentiles in milliseconds.
type LatencySummary struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// Point is one second of the run.
type Point struct {
	Second   int     `json:"second"`
	Requests int64   `json:"requests"` // every answer, replays included
	Decided  int64   `json:"decided"`  // commands decided (not replays)
	P50      float64 `json:"p50_ms"`
	P99      float64 `json:"p99_ms"`
}

// WindowSeconds is the length of Result.Windows' windows.
const WindowSeconds = 5

// windows returns the decided commands per second of each size-second
// window of a timeline; the last window holds the seconds left over.
func windows(timeline []Point, size int) []float64 {
	var out []float64
	for i := 0; i < len(timeline); i += size {
		end := min(i+size, len(timeline))
		var n int64
		for _, p := range timeline[i:end] {
			n += p.Decided
		}
		out = append(out, float64(n)/float64(end-i))
	}
	return out
}

func summarize(h *hdrhistogram.Histogram) LatencySummary {
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return LatencySummary{
		P50: ms(h.ValueAtQuantile(50)), P90: ms(h.ValueAtQuantile(90)), P99: ms(h.ValueAtQuantile(99)),
		P999: ms(h.ValueAtQuantile(99.9)), Max: ms(h.Max()), Mean: h.Mean() / 1000,
	}
}

func merge(cfg Config, workers []*worker, elapsed time.Duration) *Result {
	r := &Result{
		Name: cfg.Name, URL: cfg.URL, Mode: "closed", Clients: cfg.Clients, Rate: cfg.Rate,
		Workload: cfg.Workload, Seconds: elapsed.Seconds(), Codes: map[string]int64{}, net: map[int]int64{},
		touched: map[int]bool{},
	}
	if cfg.Rate > 0 {
		r.Mode = "open"
	}
	all := newHist()
	var (
		timeline []*hdrhistogram.Histogram
		decided  []int64
	)
	for _, w := range workers {
		all.Merge(w.hist)
		r.Requests += w.requests
		r.Applied += w.applied
		r.Rejected += w.rejected
		r.Errors += w.errors
		r.Replays += w.replays
		for k, v := range w.codes {
			r.Codes[k] += v
		}
		for k, v := range w.net {
			r.net[k] += v
		}
		for k := range w.touched {
			r.touched[k] = true
		}
		for i, h := range w.timeline {
			for len(timeline) <= i {
				timeline = append(timeline, hdrhistogram.New(1, 120_000_000, 2))
				decided = append(decided, 0)
			}
			timeline[i].Merge(h)
			decided[i] += w.decided[i]
		}
	}
	r.Latency = summarize(all)
	r.DecidedPerSec = float64(r.Applied+r.Rejected) / elapsed.Seconds()
	r.AppliedPerSec = float64(r.Applied) / elapsed.Seconds()
	for i, h := range timeline {
		s := summarize(h)
		r.Timeline = append(r.Timeline, Point{Second: i, Requests: h.TotalCount(), Decided: decided[i], P50: s.P50, P99: s.P99})
	}
	r.Windows = windows(r.Timeline, WindowSeconds)
	return r
}

// WriteTable prints results side by side, one column per run.
func WriteTable(w io.Writer, results ...*Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(label string, f func(r *Result) string) {
		cells := []string{label}
		for _, r := range results {
			cells = append(cells, f(r))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	row("", func(r *Result) string { return r.Name })
	row("mode", func(r *Result) string {
		if r.Mode == "open" {
			return fmt.Sprintf("open %.0f/s", r.Rate)
		}
		return fmt.Sprintf("closed %d", r.Clients)
	})
	row("workload", func(r *Result) string {
		if r.Workload.Dist == Hot {
			return fmt.Sprintf("hot %d", r.Workload.HotAccounts)
		}
		return fmt.Sprintf("%s %d", r.Workload.Dist, r.Workload.Accounts)
	})
	row("seconds", func(r *Result) string { return fmt.Sprintf("%.1f", r.Seconds) })
	row("requests", func(r *Result) string { return fmt.Sprint(r.Requests) })
	row("decided/s", func(r *Result) string { return fmt.Sprintf("%.0f", r.DecidedPerSec) })
	row("applied/s", func(r *Result) string { return fmt.Sprintf("%.0f", r.AppliedPerSec) })
	row("p50 ms", func(r *Result) string { return fmt.Sprintf("%.2f", r.Latency.P50) })
	row("p90 ms", func(r *Result) string { return fmt.Sprintf("%.2f", r.Latency.P90) })
	row("p99 ms", func(r *Result) string { return fmt.Sprintf("%.2f", r.Latency.P99) })
	row("p999 ms", func(r *Result) string { return fmt.Sprintf("%.2f", r.Latency.P999) })
	row("max ms", func(r *Result) string { return fmt.Sprintf("%.2f", r.Latency.Max) })
	row("applied", func(r *Result) string { return fmt.Sprint(r.Applied) })
	row("rejected", func(r *Result) string { return fmt.Sprint(r.Rejected) })
	row("errors", func(r *Result) string { return fmt.Sprint(r.Errors) })
	row("resolved after", func(r *Result) string { return fmt.Sprint(r.Resolved) })
	row("replays", func(r *Result) string { return fmt.Sprint(r.Replays) })
	row("audit", func(r *Result) string {
		if r.Audit.OK && r.Audit.InPlay > 0 {
			return fmt.Sprintf("clean (%d touched accounts of %d)", r.Audit.Accounts, r.Audit.InPlay)
		}
		if r.Audit.OK {
			return fmt.Sprintf("clean (%d accounts)", r.Audit.Accounts)
		}
		return fmt.Sprintf("FAILED: %d mismatched, %d unresolved, %d replays answered differently", r.Audit.Mismatches, r.Audit.Unresolved, r.Audit.ReplayMismatches)
	})
	tw.Flush()
	for _, r := range results {
		cells := make([]string, len(r.Windows))
		for i, v := range r.Windows {
			cells[i] = fmt.Sprintf("%.0f", v)
		}
		fmt.Fprintf(w, "windows (%ds) %s, decided/s: %s\n", WindowSeconds, r.Name, strings.Join(cells, " "))
	}
	codes := map[string]bool{}
	for _, r := range results {
		for c := range r.Codes {
			codes[c] = true
		}
	}
	keys := make([]string, 0, len(codes))
	for c := range codes {
		keys = append(keys, c)
	}
	sort.Strings(keys)
	fmt.Fprintln(w, "answers by status:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, c := range keys {
		cells := []string{"  " + c}
		for _, r := range results {
			cells = append(cells, fmt.Sprint(r.Codes[c]))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	tw.Flush()
}
