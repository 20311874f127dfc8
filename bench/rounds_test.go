package bench

import (
	"math"
	"strings"
	"testing"
)

func result(name string, perSec, p99 float64) *Result {
	return &Result{Name: name, DecidedPerSec: perSec, Latency: LatencySummary{P99: p99}}
}

func TestRatio(t *testing.T) {
	for _, tc := range []struct {
		name string
		row  []*Result
		want float64
	}{
		{"best of the others", []*Result{result("ordo", 9000, 10), result("rowlock", 3000, 30), result("optimistic", 2000, 40)}, 3},
		{"second baseline better", []*Result{result("ordo", 9000, 10), result("rowlock", 2000, 30), result("optimistic", 4500, 40)}, 2},
		{"no others", []*Result{result("ordo", 9000, 10)}, 0},
		{"others decided nothing", []*Result{result("ordo", 9000, 10), result("rowlock", 0, 0)}, 0},
	} {
		if got := Ratio(tc.row); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestMedianRatio(t *testing.T) {
	row := func(ordo, base float64) []*Result {
		return []*Result{result("ordo", ordo, 1), result("rowlock", base, 1)}
	}
	for _, tc := range []struct {
		name   string
		rounds [][]*Result
		want   float64
	}{
		{"none", nil, 0},
		{"one", [][]*Result{row(6000, 2000)}, 3},
		{"odd: the middle one", [][]*Result{row(9000, 2000), row(5000, 2500), row(6000, 2000)}, 3},
		{"even: the mean of the middle two", [][]*Result{row(4000, 2000), row(9000, 2000), row(6000, 2000), row(5000, 2000)}, 2.75},
	} {
		if got := MedianRatio(tc.rounds); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestWriteRounds(t *testing.T) {
	rounds := [][]*Result{
		{result("ordo", 9000, 12.5), result("rowlock", 3000, 30), result("optimistic", 2500, 41)},
		{result("ordo", 5200, 20.25), result("rowlock", 2000, 60), result("optimistic", 2600, 45)},
	}
	var b strings.Builder
	WriteRounds(&b, rounds)
	out := b.String()
	for _, want := range []string{"ordo /s", "rowlock p99 ms", "9000", "12.50", "3.00x", "2.00x", "median 2.50x, lowest 2.00x over 2 rounds"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
