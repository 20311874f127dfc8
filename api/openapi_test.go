package api

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
)

// openAPIShape is the part of the document the route checks read.
type openAPIShape struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas struct {
			Code struct {
				Enum []string `json:"enum"`
			} `json:"Code"`
		} `json:"schemas"`
	} `json:"components"`
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	doc, err := libopenapi.NewDocument(openAPIDocument)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if v := doc.GetVersion(); !strings.HasPrefix(v, "3.1") {
		t.Errorf("got OpenAPI version %q, want 3.1.x", v)
	}
	if _, err := doc.BuildV3Model(); err != nil {
		t.Fatalf("build model: %v", err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("new validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("document: %s: %s", e.Message, e.Reason)
			for _, se := range e.SchemaValidationErrors {
				t.Errorf("  %s at %s", se.Reason, se.KeywordLocation)
			}
		}
	}
}

var echoParam = regexp.MustCompile(`:([a-z_]+)`)

// TestOpenAPIRoutes checks that the document names every route the server
// registers, and no other.
func TestOpenAPIRoutes(t *testing.T) {
	var shape openAPIShape
	if err := json.Unmarshal(openAPIDocument, &shape); err != nil {
		t.Fatal(err)
	}
	var documented []string
	for path, item := range shape.Paths {
		for method := range item {
			switch method {
			case "get", "head", "post", "put", "patch", "delete", "options", "trace":
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	f := newFake()
	s := New(Config{Logger: slog.New(slog.DiscardHandler), History: newHistoryFake()}, f, f)
	f.server = s
	var served []string
	for _, r := range s.echo.Routes() {
		served = append(served, r.Method+" "+echoParam.ReplaceAllString(r.Path, "{$1}"))
	}
	slices.Sort(documented)
	slices.Sort(served)
	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is served but not in api/openapi.json", r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(served, r) {
			t.Errorf("route %s is in api/openapi.json but not served", r)
		}
	}
}

// TestOpenAPIProblemCodes checks that the Code enum is exactly the codes of
// the problem table.
func TestOpenAPIProblemCodes(t *testing.T) {
	var shape openAPIShape
	if err := json.Unmarshal(openAPIDocument, &shape); err != nil {
		t.Fatal(err)
	}
	var want []string
	for code := range problems {
		want = append(want, code)
	}
	got := slices.Clone(shape.Components.Schemas.Code.Enum)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("got Code enum %v, want the problem table's codes %v", got, want)
	}
}

func TestOpenAPIServed(t *testing.T) {
	_, srv := newTestServer(t, time.Second)
	res, err := http.Get(srv.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("got status %d, want 200", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("got Content-Type %q, want application/json", ct)
	}
	if string(body) != string(openAPIDocument) {
		t.Errorf("got a body of %d bytes, want the %d bytes of api/openapi.json", len(body), len(openAPIDocument))
	}
}
