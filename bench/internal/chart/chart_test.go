package chart

import (
	"bytes"
	"encoding/xml"
	"os"
	"strconv"
	"strings"
	"testing"
)

// bars parses svg and returns its bars' data attributes.
func bars(t *testing.T, svg []byte) []map[string]string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	var out []map[string]string
	for {
		tok, err := dec.Token()
		if err != nil {
			if err.Error() == "EOF" {
				return out
			}
			t.Fatalf("the SVG is not well-formed XML: %v", err)
		}
		if s, ok := tok.(xml.StartElement); ok && s.Name.Local == "rect" {
			m := map[string]string{}
			for _, a := range s.Attr {
				m[a.Name.Local] = a.Value
			}
			if m["data-server"] != "" {
				out = append(out, m)
			}
		}
	}
}

func TestSVGFromCommittedFigures(t *testing.T) {
	r, err := os.Open("../../../docs/load-figures.json")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f, err := ReadFigures(r)
	if err != nil {
		t.Fatal(err)
	}
	svg, err := SVG(f)
	if err != nil {
		t.Fatal(err)
	}
	bs := bars(t, svg)
	if len(bs) != 24 {
		t.Fatalf("%d bars, want 24 (2 placements × 3 stores × 2 scenarios × 2 servers)", len(bs))
	}
	// The bar of pinned memory read, ours, holds README's figure, and it is
	// taller than scs's beside it.
	heights := map[string]float64{}
	for _, b := range bs {
		h, err := strconv.ParseFloat(b["height"], 64)
		if err != nil || h <= 0 {
			t.Errorf("bar %v: height %q", b, b["height"])
		}
		heights[b["data-placement"]+"/"+b["data-store"]+"/"+b["data-scenario"]+"/"+b["data-server"]] = h
		if b["data-placement"] == "pinned" && b["data-store"] == "memory" && b["data-scenario"] == "read" && b["data-server"] == "ours" && b["data-value"] != "73230" {
			t.Errorf("pinned memory read ours: data-value %q, want 73230", b["data-value"])
		}
	}
	if heights["pinned/memory/read/ours"] <= heights["pinned/memory/read/scs"] {
		t.Errorf("ours's bar (%v) not taller than scs's (%v)", heights["pinned/memory/read/ours"], heights["pinned/memory/read/scs"])
	}
	if !bytes.Contains(svg, []byte("2.78×")) {
		t.Errorf("the SVG lacks the ratio 2.78×")
	}
	// The committed chart is the one these figures draw.
	committed, err := os.ReadFile("../../../docs/load.svg")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, svg) {
		t.Errorf("docs/load.svg is not what docs/load-figures.json draws: cd bench && go run ./cmd/chart")
	}
}

func TestFromResults(t *testing.T) {
	const results = `{"rows":[
	 {"Backend":"memory","Scenario":"baseline","Server":"ours","Runs":[{"ReqPerSec":9}]},
	 {"Backend":"memory","Scenario":"read","Server":"ours","Runs":[{"ReqPerSec":300},{"ReqPerSec":100},{"ReqPerSec":200}]},
	 {"Backend":"memory","Scenario":"read","Server":"scs","Runs":[{"ReqPerSec":40},{"ReqPerSec":60}]},
	 {"Backend":"redis","Scenario":"read","Server":"ours","Runs":[{"ReqPerSec":10}]},
	 {"Backend":"redis","Scenario":"read","Server":"scs","Skipped":"no","Runs":[]}
	],"checks":[]}`
	p, err := FromResults(strings.NewReader(results), "shared")
	if err != nil {
		t.Fatal(err)
	}
	want := Row{Store: "memory", Scenario: "read", Ours: 200, Scs: 50}
	if len(p.Rows) != 1 || p.Rows[0] != want {
		t.Errorf("rows %+v, want only %+v (medians; baseline and the unpaired redis row left out)", p.Rows, want)
	}
	if _, err := FromResults(strings.NewReader(`{"rows":[]}`), "x"); err == nil {
		t.Error("no rows: no error")
	}
	if _, err := FromResults(strings.NewReader(`{"rows":`), "x"); err == nil {
		t.Error("truncated JSON: no error")
	}
}

func TestBadFigures(t *testing.T) {
	for _, in := range []string{
		`{}`,
		`{"placements":[{"name":"p","rows":[]}]}`,
		`{"placements":[{"name":"p","rows":[{"store":"m","scenario":"r","ours":0,"scs":1}]}]}`,
		`{"placements":[{"name":"p","rows":[{"store":"m","scenario":"r","ours":-1,"scs":1}]}]}`,
		`{"placements":[{"name":"p","rows":[{"store":"m","scenario":"r","ours":1,"scs":1,"extra":2}]}]}`,
		`{"placements":[` + strings.Repeat(`{"name":"p","rows":[{"store":"m","scenario":"r","ours":1,"scs":1}]},`, MaxPlacements) + `{"name":"p","rows":[{"store":"m","scenario":"r","ours":1,"scs":1}]}]}`,
	} {
		if _, err := ReadFigures(strings.NewReader(in)); err == nil {
			t.Errorf("ReadFigures(%.60s…): no error", in)
		}
	}
}

// TestEscapes: names from a results file are text in the SVG, never markup.
func TestEscapes(t *testing.T) {
	f := &Figures{Title: `<script>alert(1)</script>`, Placements: []Placement{{Name: `"><g`, Rows: []Row{{Store: `a&b`, Scenario: `<x>`, Ours: 2, Scs: 1}}}}}
	svg, err := SVG(f)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(svg, []byte("<script")) || bytes.Contains(svg, []byte(`"><g`)) {
		t.Errorf("unescaped input in the SVG:\n%s", svg)
	}
	if bs := bars(t, svg); len(bs) != 2 || bs[0]["data-store"] != "a&b" {
		t.Errorf("bars %v", bs)
	}
}

func TestTicks(t *testing.T) {
	for _, maxV := range []float64{1, 7, 5888, 73230, 86829, 1e6} {
		step, top := ticks(maxV)
		if top < maxV || step <= 0 || top/step > 8 || top/step < 2 {
			t.Errorf("ticks(%v) = %v, %v", maxV, step, top)
		}
	}
}
