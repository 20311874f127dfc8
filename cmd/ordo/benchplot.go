package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ordo-dev/ordo/bench"
)

// benchPlotCmd is `ordo bench plot`: how throughput and latency move as one
// parameter grows, drawn from the JSON of earlier `ordo bench --json` runs.
func benchPlotCmd() *cobra.Command {
	var out, title string
	cmd := &cobra.Command{
		Use:   "plot SERIES/LABEL=RESULT.json...",
		Short: "Plot throughput and latency against a growing parameter from `ordo bench --json` results",
		Long: `Reads results written by ` + "`ordo bench --json`" + ` and writes an HTML page with one
chart per series: decided commands per second (bars) and p50 and p99 latency
(lines) at each point, in the order given, with the numbers in a table.

  ordo bench plot --out growth.html \
    clients/1=c1.json clients/10=c10.json clients/100=c100.json \
    "stored outcomes/0=o0.json" "stored outcomes/10M=o10m.json"

docs/bench/growth.sh runs such a sweep and calls it.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			series, err := growthSeries(args)
			if err != nil {
				return err
			}
			f, err := os.Create(out)
			if err != nil {
				return err
			}
			if err := bench.WriteGrowthPlot(f, title, series...); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		},
	}
	cmd.Flags().StringVar(&out, "out", "growth.html", "the HTML file to write")
	cmd.Flags().StringVar(&title, "title", "Ordo: cost as the work grows", "the page's title")
	return cmd
}

// growthSeries reads SERIES/LABEL=FILE arguments into series, in the order
// their first point appears.
func growthSeries(args []string) ([]bench.GrowthSeries, error) {
	var series []bench.GrowthSeries
	index := map[string]int{}
	for _, arg := range args {
		spec, file, ok := strings.Cut(arg, "=")
		name, label, ok2 := strings.Cut(spec, "/")
		if !ok || !ok2 || name == "" || label == "" || file == "" {
			return nil, fmt.Errorf("%q: want SERIES/LABEL=RESULT.json", arg)
		}
		raw, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		var res bench.Result
		if err := json.Unmarshal(raw, &res); err != nil {
			var list []bench.Result // --json of several runs: the first
			if err2 := json.Unmarshal(raw, &list); err2 != nil || len(list) == 0 {
				return nil, fmt.Errorf("%s: not an `ordo bench --json` result: %v", file, err)
			}
			res = list[0]
		}
		i, seen := index[name]
		if !seen {
			i = len(series)
			index[name] = i
			series = append(series, bench.GrowthSeries{Name: name})
		}
		series[i].Points = append(series[i].Points, bench.GrowthPoint{Label: label, Result: &res})
	}
	return series, nil
}
