package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ordo-dev/ordo/bench"
)

// TestBenchPlot: `ordo bench plot` groups SERIES/LABEL=FILE arguments into
// series in the order given and writes their chart; malformed arguments and
// files that are not results are refused.
func TestBenchPlot(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, rate float64) string {
		t.Helper()
		b, _ := json.Marshal([]*bench.Result{{DecidedPerSec: rate, Audit: bench.Audit{OK: true}}})
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	c1, c10, o0 := write("c1.json", 800), write("c10.json", 3100), write("o0.json", 4000)
	series, err := growthSeries([]string{"clients/1=" + c1, "stored outcomes/0=" + o0, "clients/10=" + c10})
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 2 || series[0].Name != "clients" || len(series[0].Points) != 2 || series[0].Points[1].Label != "10" ||
		series[0].Points[1].Result.DecidedPerSec != 3100 || series[1].Name != "stored outcomes" {
		t.Errorf("got series %+v", series)
	}
	out := filepath.Join(dir, "growth.html")
	cmd := benchPlotCmd()
	cmd.SetArgs([]string{"--out", out, "clients/1=" + c1, "clients/10=" + c10})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	page, _ := os.ReadFile(out)
	if !strings.Contains(string(page), "<td>10</td><td>3100</td>") {
		t.Errorf("plot lacks the 10-client point:\n%s", page)
	}
	notJSON := filepath.Join(dir, "x.txt")
	_ = os.WriteFile(notJSON, []byte("decided/s 5"), 0o644)
	for _, bad := range [][]string{{"clients=" + c1}, {"clients/1"}, {"/1=" + c1}, {"clients/1=" + notJSON}, {"clients/1=" + filepath.Join(dir, "missing.json")}} {
		if _, err := growthSeries(bad); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}
