// Package chart draws the side-by-side load results as an SVG bar chart:
// ours against scs, per store and scenario, one panel per placement
// (pinned, shared). It uses encoding/xml only, so the SVG is well formed
// and every text in it escaped.
//
// Every bar is a <rect> with data-server, data-store, data-scenario,
// data-placement and data-value (req/s) attributes, for tests and for
// anyone reading the figures back out of the picture.
package chart

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Figures is what a chart shows; it is also the JSON of a committed
// figures file (docs/load-figures.json).
type Figures struct {
	Title      string      `json:"title"`
	Subtitle   string      `json:"subtitle,omitempty"`
	Placements []Placement `json:"placements"`
}

// Placement is one run of cmd/load: where the server and wrk ran.
type Placement struct {
	Name string `json:"name"` // "pinned" or "shared"
	Note string `json:"note,omitempty"`
	Rows []Row  `json:"rows"`
}

// Row is one store and scenario: the two servers' median req/s.
type Row struct {
	Store    string  `json:"store"`    // memory, redis, postgres
	Scenario string  `json:"scenario"` // read, rmw
	Ours     float64 `json:"ours"`
	Scs      float64 `json:"scs"`
}

// Limits on what a chart draws, so that a huge or hostile input file
// cannot make a huge picture.
const (
	MaxPlacements = 4
	MaxRows       = 24 // per placement
)

// Check reports what is wrong with f, if anything.
func (f *Figures) Check() error {
	if len(f.Placements) == 0 {
		return errors.New("chart: no placements")
	}
	if len(f.Placements) > MaxPlacements {
		return fmt.Errorf("chart: %d placements, at most %d", len(f.Placements), MaxPlacements)
	}
	for _, p := range f.Placements {
		if len(p.Rows) == 0 {
			return fmt.Errorf("chart: placement %q has no rows", p.Name)
		}
		if len(p.Rows) > MaxRows {
			return fmt.Errorf("chart: placement %q has %d rows, at most %d", p.Name, len(p.Rows), MaxRows)
		}
		for _, r := range p.Rows {
			for _, v := range []float64{r.Ours, r.Scs} {
				if !(v > 0) || math.IsInf(v, 0) {
					return fmt.Errorf("chart: %s %s %s: req/s %v, want a positive number", p.Name, r.Store, r.Scenario, v)
				}
			}
		}
	}
	return nil
}

// ReadFigures decodes a figures file.
func ReadFigures(r io.Reader) (*Figures, error) {
	var f Figures
	dec := json.NewDecoder(io.LimitReader(r, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("chart: figures: %w", err)
	}
	return &f, f.Check()
}

// results is the part of cmd/load's results.json the chart reads.
type results struct {
	Rows []struct {
		Backend, Scenario, Server string
		Skipped                   string
		Runs                      []struct{ ReqPerSec float64 }
	} `json:"rows"`
}

// Scenarios the chart takes from a results file, in its order: the
// session scenarios both servers serve.
var Scenarios = []string{"read", "rmw"}

// FromResults reads cmd/load's results.json and returns the placement it
// measured, named name: for each store and scenario of Scenarios that both
// ours and scs ran, their median req/s (as cmd/load's report computes it).
func FromResults(r io.Reader, name string) (Placement, error) {
	var res results
	if err := json.NewDecoder(io.LimitReader(r, 64<<20)).Decode(&res); err != nil {
		return Placement{}, fmt.Errorf("chart: results: %w", err)
	}
	type key struct{ store, scenario string }
	med := map[key]map[string]float64{}
	var order []key
	for _, row := range res.Rows {
		if row.Skipped != "" || len(row.Runs) == 0 || !slices.Contains(Scenarios, row.Scenario) {
			continue
		}
		k := key{row.Backend, row.Scenario}
		if med[k] == nil {
			med[k] = map[string]float64{}
			order = append(order, k)
		}
		v := make([]float64, len(row.Runs))
		for i, run := range row.Runs {
			v[i] = run.ReqPerSec
		}
		med[k][row.Server] = median(v)
	}
	p := Placement{Name: name}
	for _, k := range order {
		ours, okO := med[k]["ours"]
		scs, okS := med[k]["scs"]
		if okO && okS && ours > 0 && scs > 0 {
			p.Rows = append(p.Rows, Row{Store: k.store, Scenario: k.scenario, Ours: ours, Scs: scs})
		}
	}
	if len(p.Rows) == 0 {
		return p, fmt.Errorf("chart: results: no %s rows measured on both ours and scs", strings.Join(Scenarios, " or "))
	}
	if len(p.Rows) > MaxRows {
		p.Rows = p.Rows[:MaxRows]
	}
	return p, nil
}

func median(v []float64) float64 {
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// Geometry, in SVG user units.
const (
	width     = 820
	marginL   = 70 // room for the axis labels
	marginR   = 20
	headH     = 84 // title, subtitle, legend
	panelH    = 250
	panelTop  = 34 // the panel's title above its plot
	labelsH   = 40 // store and scenario under the bars
	barW      = 34
	barGap    = 4
	plotH     = panelH - panelTop - labelsH
	colorOurs = "#2f6fdf"
	colorScs  = "#9aa3b2"
)

var storeNames = map[string]string{"memory": "memory", "redis": "Redis", "postgres": "Postgres"}
var scenarioNames = map[string]string{"read": "session read", "rmw": "read-modify-write", "baseline": "no session"}

func displayName(m map[string]string, s string) string {
	if n, ok := m[s]; ok {
		return n
	}
	return s
}

// SVG draws f.
func SVG(f *Figures) ([]byte, error) {
	if err := f.Check(); err != nil {
		return nil, err
	}
	height := headH + len(f.Placements)*panelH + 24
	var buf bytes.Buffer
	w := &writer{enc: xml.NewEncoder(&buf)}
	w.enc.Indent("", " ")
	w.open("svg", "xmlns", "http://www.w3.org/2000/svg", "width", itoa(width), "height", itoa(height),
		"viewBox", "0 0 "+itoa(width)+" "+itoa(height), "role", "img", "font-family", "system-ui, -apple-system, Segoe UI, Roboto, sans-serif")
	w.leaf("title", f.Title)
	w.leaf("desc", describe(f))
	w.leaf("rect", "", "width", "100%", "height", "100%", "fill", "#ffffff")
	w.leaf("text", f.Title, "x", itoa(marginL), "y", "26", "font-size", "18", "font-weight", "600", "fill", "#1d2330")
	if f.Subtitle != "" {
		w.leaf("text", f.Subtitle, "x", itoa(marginL), "y", "46", "font-size", "12", "fill", "#5b6474")
	}
	// Legend, under the title.
	for i, l := range []struct{ color, label string }{{colorOurs, "ours (stateless)"}, {colorScs, "scs v2.9.0"}} {
		x := marginL + i*150
		w.leaf("rect", "", "x", itoa(x), "y", "56", "width", "12", "height", "12", "fill", l.color)
		w.leaf("text", l.label, "x", itoa(x+18), "y", "66", "font-size", "12", "fill", "#1d2330")
	}

	for i, p := range f.Placements {
		w.panel(p, headH+i*panelH)
	}
	w.close("svg")
	if w.err == nil {
		w.err = w.enc.Flush()
	}
	if w.err != nil {
		return nil, w.err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// describe is the chart's text for a screen reader: every figure.
func describe(f *Figures) string {
	var b strings.Builder
	b.WriteString("Requests per second, ours against scs.")
	for _, p := range f.Placements {
		fmt.Fprintf(&b, " %s:", p.Name)
		for i, r := range p.Rows {
			sep := ";"
			if i == len(p.Rows)-1 {
				sep = "."
			}
			fmt.Fprintf(&b, " %s %s %s vs %s (%s)%s", displayName(storeNames, r.Store), displayName(scenarioNames, r.Scenario),
				thousands(r.Ours), thousands(r.Scs), ratio(r.Ours, r.Scs), sep)
		}
	}
	return b.String()
}

// panel draws one placement's bars with top at y.
func (w *writer) panel(p Placement, top int) {
	w.open("g", "data-placement", p.Name)
	title := p.Name
	if p.Note != "" {
		title += ": " + p.Note
	}
	w.leaf("text", title, "x", itoa(marginL), "y", itoa(top+18), "font-size", "14", "font-weight", "600", "fill", "#1d2330")

	plotTop := top + panelTop
	plotW := width - marginL - marginR
	var maxV float64
	for _, r := range p.Rows {
		maxV = max(maxV, r.Ours, r.Scs)
	}
	step, ceil := ticks(maxV)
	y := func(v float64) float64 { return float64(plotTop+plotH) - v/ceil*float64(plotH) }
	for v := 0.0; v <= ceil+step/2; v += step {
		yy := ftoa(y(v))
		w.leaf("line", "", "x1", itoa(marginL), "x2", itoa(marginL+plotW), "y1", yy, "y2", yy, "stroke", "#dde1e7", "stroke-width", "1")
		w.leaf("text", thousands(v), "x", itoa(marginL-6), "y", ftoa(y(v)+4), "font-size", "11", "fill", "#5b6474", "text-anchor", "end")
	}
	w.leaf("text", "req/s", "x", "14", "y", itoa(plotTop+plotH/2), "font-size", "11", "fill", "#5b6474",
		"transform", "rotate(-90 14 "+itoa(plotTop+plotH/2)+")", "text-anchor", "middle")

	groupW := float64(plotW) / float64(len(p.Rows))
	for i, r := range p.Rows {
		cx := float64(marginL) + groupW*(float64(i)+0.5)
		for j, bar := range []struct {
			server, color string
			v             float64
		}{{"ours", colorOurs, r.Ours}, {"scs", colorScs, r.Scs}} {
			x := cx - barW - barGap/2 + float64(j)*(barW+barGap)
			top := y(bar.v)
			w.open("rect", "x", ftoa(x), "y", ftoa(top), "width", itoa(barW), "height", ftoa(float64(plotTop+plotH)-top),
				"fill", bar.color, "data-server", bar.server, "data-store", r.Store, "data-scenario", r.Scenario,
				"data-placement", p.Name, "data-value", strconv.FormatFloat(math.Round(bar.v), 'f', -1, 64))
			w.leaf("title", fmt.Sprintf("%s, %s, %s: %s %s req/s", displayName(storeNames, r.Store),
				displayName(scenarioNames, r.Scenario), p.Name, bar.server, thousands(bar.v)))
			w.close("rect")
			w.leaf("text", kilo(bar.v), "x", ftoa(x+barW/2), "y", ftoa(top-4), "font-size", "10", "fill", "#5b6474", "text-anchor", "middle")
		}
		// The ratio above the pair.
		w.leaf("text", ratio(r.Ours, r.Scs), "x", ftoa(cx), "y", ftoa(y(max(r.Ours, r.Scs))-18), "font-size", "13",
			"font-weight", "600", "fill", "#1d2330", "text-anchor", "middle", "class", "ratio")
		w.leaf("text", displayName(storeNames, r.Store), "x", ftoa(cx), "y", itoa(plotTop+plotH+16), "font-size", "12",
			"font-weight", "600", "fill", "#1d2330", "text-anchor", "middle")
		w.leaf("text", displayName(scenarioNames, r.Scenario), "x", ftoa(cx), "y", itoa(plotTop+plotH+31), "font-size", "11",
			"fill", "#5b6474", "text-anchor", "middle")
	}
	w.close("g")
}

// ticks returns a round step and the axis top for values up to maxV: 4 to
// 8 steps of 1, 2 or 5 times a power of ten, the top at or above maxV plus
// room for the labels above the bars.
func ticks(maxV float64) (step, top float64) {
	want := maxV * 1.15
	mag := math.Pow(10, math.Floor(math.Log10(want/5)))
	for _, m := range []float64{1, 2, 5, 10} {
		step = m * mag
		if want/step <= 6 {
			break
		}
	}
	return step, math.Ceil(want/step) * step
}

func ratio(a, b float64) string { return strconv.FormatFloat(a/b, 'f', 2, 64) + "×" }

// kilo writes v as 73.2k.
func kilo(v float64) string {
	if v < 1000 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v/1000, 'f', 1, 64) + "k"
}

// thousands writes v rounded with thousands separators: 73,230.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func itoa(i int) string { return strconv.Itoa(i) }

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

// writer writes XML tokens, keeping the first error.
type writer struct {
	enc *xml.Encoder
	err error
}

func (w *writer) token(t xml.Token) {
	if w.err == nil {
		w.err = w.enc.EncodeToken(t)
	}
}

// open starts element name with attrs given as name, value pairs.
func (w *writer) open(name string, attrs ...string) {
	s := xml.StartElement{Name: xml.Name{Local: name}}
	for i := 0; i+1 < len(attrs); i += 2 {
		s.Attr = append(s.Attr, xml.Attr{Name: xml.Name{Local: attrs[i]}, Value: attrs[i+1]})
	}
	w.token(s)
}

func (w *writer) close(name string) { w.token(xml.EndElement{Name: xml.Name{Local: name}}) }

// leaf writes element name holding text.
func (w *writer) leaf(name, text string, attrs ...string) {
	w.open(name, attrs...)
	if text != "" {
		w.token(xml.CharData(text))
	}
	w.close(name)
}

// MarshalFigures encodes f as a figures file.
func MarshalFigures(f *Figures) ([]byte, error) {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
