package bench

import (
	"fmt"
	"html"
	"io"
	"strings"
)

// GrowthPoint is one run of a growth series: the value of the parameter
// that grew (a client count, an account count, a table size) and its result.
type GrowthPoint struct {
	Label  string
	Result *Result
}

// GrowthSeries is how a system's cost moves as one parameter grows.
type GrowthSeries struct {
	Name   string // the parameter, e.g. "clients"
	Points []GrowthPoint
}

// WriteGrowthPlot writes a self-contained HTML page with one SVG chart per
// series, its points left to right in the order given: decided commands per
// second (bars, right scale) and p50 and p99 latency (lines, left scale),
// with a table of the numbers under each chart.
func WriteGrowthPlot(w io.Writer, title string, series ...GrowthSeries) error {
	charts := make([]string, len(series))
	for i, s := range series {
		charts[i] = growthChart(s)
	}
	return writePage(w, title, charts)
}

func growthChart(s GrowthSeries) string {
	const W, H, pad = 600.0, 300.0, 60.0
	var maxLat, maxRate float64
	for _, p := range s.Points {
		maxLat = max(maxLat, p.Result.Latency.P99)
		maxRate = max(maxRate, p.Result.DecidedPerSec)
	}
	maxLat, maxRate = max(maxLat, 1), max(maxRate, 1)
	n := float64(max(len(s.Points), 1))
	slot := (W - 2*pad) / n
	x := func(i int) float64 { return pad + slot*float64(i) }
	yLat := func(v float64) float64 { return H - pad - (H-2*pad)*v/maxLat }
	var b strings.Builder
	fmt.Fprintf(&b, "<h2>by %s</h2>\n", html.EscapeString(s.Name))
	fmt.Fprintf(&b, `<svg width="%.0f" height="%.0f" xmlns="http://www.w3.org/2000/svg">`, W, H)
	for i, p := range s.Points {
		h := (H - 2*pad) * p.Result.DecidedPerSec / maxRate
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#dde"/>`, x(i)+slot*0.15, H-pad-h, slot*0.7, h)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`, x(i)+slot/2, H-pad+18, html.EscapeString(p.Label))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="11">%.0f/s</text>`, x(i)+slot/2, H-pad-h-4, p.Result.DecidedPerSec)
	}
	line := func(get func(LatencySummary) float64, color string) {
		var pts []string
		for i, p := range s.Points {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i)+slot/2, yLat(get(p.Result.Latency))))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, color, strings.Join(pts, " "))
	}
	line(func(l LatencySummary) float64 { return l.P50 }, "#2a7")
	line(func(l LatencySummary) float64 { return l.P99 }, "#c33")
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#000"/>`, pad, H-pad, W-pad, H-pad)
	fmt.Fprintf(&b, `<text x="5" y="%.0f">%.1f ms</text><text x="5" y="%.0f">0</text>`, pad, maxLat, H-pad)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">%s →</text>`, W/2-30, H-15, html.EscapeString(s.Name))
	fmt.Fprintf(&b, `<text x="%.0f" y="20" fill="#2a7">p50</text><text x="%.0f" y="20" fill="#c33">p99</text><text x="%.0f" y="20">decided/s (bars)</text>`, pad, pad+40, pad+80)
	b.WriteString("</svg>\n<table><tr><th>" + html.EscapeString(s.Name) + "</th><th>decided/s</th><th>p50 ms</th><th>p99 ms</th><th>audit</th></tr>\n")
	for _, p := range s.Points {
		audit := "clean"
		if !p.Result.Audit.OK {
			audit = "VIOLATIONS"
		}
		fmt.Fprintf(&b, "<tr><td>%s</td><td>%.0f</td><td>%.2f</td><td>%.2f</td><td>%s</td></tr>\n", html.EscapeString(p.Label), p.Result.DecidedPerSec, p.Result.Latency.P50, p.Result.Latency.P99, audit)
	}
	b.WriteString("</table>\n")
	return b.String()
}
