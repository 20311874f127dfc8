package bench

import (
	"strings"
	"testing"
)

func TestWriteGrowthPlot(t *testing.T) {
	res := func(rate, p50, p99 float64, ok bool) *Result {
		return &Result{DecidedPerSec: rate, Latency: LatencySummary{P50: p50, P99: p99}, Audit: Audit{OK: ok}}
	}
	var b strings.Builder
	err := WriteGrowthPlot(&b, "growth <test>", GrowthSeries{Name: "clients", Points: []GrowthPoint{
		{"1", res(812, 1.2, 2.5, true)},
		{"10", res(3150, 2.9, 7.1, true)},
		{"100", res(4020, 22.4, 61.0, false)},
	}}, GrowthSeries{Name: "stored outcomes", Points: []GrowthPoint{{"0", res(4000, 14, 30, true)}, {"10M", res(3500, 16, 35, true)}}})
	if err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{
		"growth &lt;test&gt;", "by clients", "by stored outcomes",
		"<td>100</td><td>4020</td><td>22.40</td><td>61.00</td><td>VIOLATIONS</td>",
		"<td>10M</td><td>3500</td><td>16.00</td><td>35.00</td><td>clean</td>",
		"812/s",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("plot lacks %q", want)
		}
	}
	if got := strings.Count(page, "<svg"); got != 2 {
		t.Errorf("got %d charts, want 2", got)
	}
	if got := strings.Count(page, "<polyline"); got != 4 {
		t.Errorf("got %d latency lines, want 4 (p50 and p99 per chart)", got)
	}
}
