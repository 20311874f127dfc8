package bench

import (
	"fmt"
	"html"
	"io"
	"strings"
)

// WritePlot writes a self-contained HTML page with an SVG chart per run:
// p50 and p99 latency (left axis) and requests per second (bars) over time.
func WritePlot(w io.Writer, title string, results ...*Result) error {
	charts := make([]string, len(results))
	for i, r := range results {
		charts[i] = chart(r)
	}
	return writePage(w, title, charts)
}

// writePage writes a self-contained HTML page with title and the charts
// (SVG and tables) one under the other.
func writePage(w io.Writer, title string, charts []string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "<!doctype html><meta charset=utf-8><title>%s</title>\n<style>body{font:14px sans-serif;margin:2em}svg{background:#fff;border:1px solid #ccc;margin:1em 0}td,th{padding:2px 10px;text-align:right}</style>\n<h1>%s</h1>\n", html.EscapeString(title), html.EscapeString(title))
	for _, c := range charts {
		b.WriteString(c)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func chart(r *Result) string {
	const W, H, pad = 800.0, 300.0, 50.0
	var maxLat, maxReq float64
	for _, p := range r.Timeline {
		maxLat = max(maxLat, p.P99)
		maxReq = max(maxReq, float64(p.Requests))
	}
	if maxLat == 0 {
		maxLat = 1
	}
	if maxReq == 0 {
		maxReq = 1
	}
	n := float64(max(len(r.Timeline), 1))
	x := func(i int) float64 { return pad + (W-2*pad)*float64(i)/n }
	yLat := func(v float64) float64 { return H - pad - (H-2*pad)*v/maxLat }
	var s strings.Builder
	name := r.Name
	if r.Round > 0 {
		name = fmt.Sprintf("%s, round %d", r.Name, r.Round)
	}
	fmt.Fprintf(&s, "<h2>%s — %s, %d clients, %.0f decided/s, p99 %.2f ms</h2>\n", html.EscapeString(name), r.Workload.Dist, r.Clients, r.DecidedPerSec, r.Latency.P99)
	fmt.Fprintf(&s, `<svg width="%.0f" height="%.0f" xmlns="http://www.w3.org/2000/svg">`, W, H)
	barW := (W - 2*pad) / n
	for i, p := range r.Timeline {
		h := (H - 2*pad) * float64(p.Requests) / maxReq
		fmt.Fprintf(&s, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#dde"/>`, x(i), H-pad-h, barW*0.9, h)
	}
	line := func(get func(Point) float64, color string) {
		var pts []string
		for i, p := range r.Timeline {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i)+barW/2, yLat(get(p))))
		}
		fmt.Fprintf(&s, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, color, strings.Join(pts, " "))
	}
	line(func(p Point) float64 { return p.P50 }, "#2a7")
	line(func(p Point) float64 { return p.P99 }, "#c33")
	fmt.Fprintf(&s, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#000"/>`, pad, H-pad, W-pad, H-pad)
	fmt.Fprintf(&s, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#000"/>`, pad, pad, pad, H-pad)
	fmt.Fprintf(&s, `<text x="5" y="%.0f">%.1f ms</text><text x="5" y="%.0f">0</text>`, pad, maxLat, H-pad)
	fmt.Fprintf(&s, `<text x="%.0f" y="%.0f">%.0f req/s (bars)</text>`, W-pad-120, pad-10, maxReq)
	fmt.Fprintf(&s, `<text x="%.0f" y="%.0f">time (s) →</text>`, W/2, H-15)
	fmt.Fprintf(&s, `<text x="%.0f" y="20" fill="#2a7">p50</text><text x="%.0f" y="20" fill="#c33">p99</text>`, pad, pad+40)
	s.WriteString("</svg>\n")
	return s.String()
}
