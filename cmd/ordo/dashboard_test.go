package main

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// dashboardPath is the Grafana dashboard provisioned by deploy/compose.
const dashboardPath = "../../deploy/grafana/ordo.json"

// TestDashboardMetrics: every metric the Grafana dashboard queries is one
// that Ordo's API or consumer registers, so that renaming a metric cannot
// silently blank a panel.
func TestDashboardMetrics(t *testing.T) {
	used := dashboardMetrics(t, dashboardPath)
	if len(used) < 10 {
		t.Fatalf("the dashboard queries %d metrics (%v): the parser or the file is broken", len(used), used)
	}

	e := newEnv(t, 2)
	e.opts.OpsAddr = "127.0.0.1:0"
	base := e.startAPI()
	c, _ := e.startConsumer()
	e.waitClaimed()
	openAccount(t, base, "dashboard-1", 10) // a request and an outcome: the API's vectors get their first series

	registered := map[string]bool{}
	for _, url := range []string{base + "/metrics", "http://" + c.OpsAddr() + "/metrics"} {
		r := do(t, http.MethodGet, url, "", nil)
		if r.Status != http.StatusOK {
			t.Fatalf("GET %s: %d", url, r.Status)
		}
		addFamilies(t, registered, string(r.Raw))
	}
	// Some consumer series exist only in some states (a stopped partition):
	// a name the scrape lacks counts if the consumer's registry refuses a
	// new collector of that name, which it does for every name it has.
	reg, ok := c.Metrics().(*prometheus.Registry)
	if !ok {
		t.Fatalf("the consumer's metrics are a %T, want a *prometheus.Registry", c.Metrics())
	}
	for _, name := range used {
		if registered[name] {
			continue
		}
		probe := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "dashboard test probe"})
		if err := reg.Register(probe); err != nil {
			registered[name] = true
			continue
		}
		reg.Unregister(probe)
	}
	for _, name := range used {
		if !registered[name] {
			t.Errorf("the dashboard queries %s, which no role registers", name)
		}
	}
}

// addFamilies adds the metric names a scrape exposes, with the series names
// of histograms and summaries (_bucket, _sum, _count).
func addFamilies(t *testing.T, names map[string]bool, text string) {
	t.Helper()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range families {
		names[name] = true
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			names[name+"_sum"], names[name+"_count"] = true, true
		}
	}
}

// dashboardMetrics is every metric name in the dashboard's PromQL queries.
func dashboardMetrics(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var exprs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "expr" {
					exprs = append(exprs, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
	seen := map[string]bool{}
	for _, expr := range exprs {
		names := promqlMetrics(expr)
		if len(names) == 0 {
			t.Errorf("query %q: no metric name found", expr)
		}
		for _, n := range names {
			seen[n] = true
		}
	}
	var out []string
	for n := range seen {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

var (
	promqlStrings   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promqlMatchers  = regexp.MustCompile(`\{[^}]*\}`)
	promqlRanges    = regexp.MustCompile(`\[[^\]]*\]`)
	promqlGrouping  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlIdent     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	promqlVariables = regexp.MustCompile(`\$\w+|\$\{[^}]*\}`)
	promqlKeywords  = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true,
		"group_right": true, "bool": true, "offset": true, "and": true, "or": true, "unless": true, "inf": true, "nan": true}
)

// promqlMetrics finds the metric names in a PromQL expression: identifiers
// outside strings, label matchers, ranges and grouping clauses that are not
// function calls or keywords.
func promqlMetrics(expr string) []string {
	s := promqlVariables.ReplaceAllString(expr, "")
	for _, re := range []*regexp.Regexp{promqlStrings, promqlMatchers, promqlRanges, promqlGrouping} {
		s = re.ReplaceAllString(s, " ")
	}
	var names []string
	for _, m := range promqlIdent.FindAllStringSubmatch(s, -1) {
		if m[1] != "" || promqlKeywords[strings.ToLower(m[0])] {
			continue // a function call or a keyword
		}
		names = append(names, m[0])
	}
	return names
}

// TestPromQLMetrics: the parser the dashboard test relies on.
func TestPromQLMetrics(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`sum(ordo_consumer_partition_lag)`, []string{"ordo_consumer_partition_lag"}},
		{`histogram_quantile(0.99, sum by (le) (rate(ordo_http_request_duration_seconds_bucket{method="POST",route=~"/v1/accounts.*"}[$__rate_interval])))`,
			[]string{"ordo_http_request_duration_seconds_bucket"}},
		{`sum(rate(a_total{status="202"}[5m])) / sum(rate(b_count[5m]))`, []string{"a_total", "b_count"}},
		{`max by (partition, reason) (x) and on (instance) y`, []string{"x", "y"}},
		{`go_goroutines{job=~"ordo.*"}`, []string{"go_goroutines"}},
	}
	for _, tt := range tests {
		if got := promqlMetrics(tt.expr); !slices.Equal(got, tt.want) {
			t.Errorf("promqlMetrics(%q) = %v, want %v", tt.expr, got, tt.want)
		}
	}
}
