package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
)

// Page is one report.
type Page struct {
	Title    string
	Subtitle string
	// Facts are the run's settings and headline figures, in order.
	Facts    []Fact
	Sections []Section
}

// Fact is one name and value.
type Fact struct{ Name, Value string }

// Section is a heading with an optional note, chart and table.
type Section struct {
	Title string
	Note  string
	Chart *Chart
	Table *Table
}

// Table is a header row and rows of cells.
type Table struct {
	Head []string
	Rows [][]string
}

// Chart is a line chart over a numeric x axis.
type Chart struct {
	XLabel, YLabel string
	Series         []Series
	// Bands shade spans of x (faults, unavailability), each with a label
	// shown on hover and a class, BandFault or BandGap.
	Bands []Band
	// XTicks replaces the computed x ticks (e.g. percentiles on a log
	// scale); nil: computed.
	XTicks []Tick
}

// Series is one line.
type Series struct {
	Name   string
	Points []Point
}

type Point struct{ X, Y float64 }

type Band struct {
	From, To float64
	Label    string
	Class    string
}

type Tick struct {
	At    float64
	Label string
}

// Chart geometry, in SVG user units.
const (
	chartW, chartH         = 900, 280
	padL, padR, padT, padB = 64, 16, 12, 40
	plotW, plotH           = chartW - padL - padR, chartH - padT - padB
)

// The classes of a Band.
const (
	BandFault = "fault" // a fault was in force
	BandGap   = "gap"   // operations were attempted and none succeeded
)

var palette = []string{"#2e86c1", "#d35400", "#27ae60", "#8e44ad", "#c0392b", "#16a085"}

// Write renders p to w.
func Write(w io.Writer, p Page) error {
	return page.Execute(w, p)
}

var page = template.Must(template.New("page").Funcs(template.FuncMap{"svg": chartSVG}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;font-size:14px;margin:24px;color:#1d1f21;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 6px}.sub{color:#6b6f73;margin-bottom:16px}
table{border-collapse:collapse;margin:6px 0}th,td{padding:4px 10px;border-bottom:1px solid #d9dbdd;text-align:left;font-variant-numeric:tabular-nums}
th{background:#eef0f1;font-size:12px}.facts td:first-child{color:#6b6f73}.note{color:#6b6f73;max-width:900px}
svg{display:block;max-width:100%;height:auto}svg text{font-size:11px;fill:#444}.legend span{display:inline-block;margin-right:14px}
.sw{display:inline-block;width:12px;height:3px;vertical-align:middle;margin-right:5px}
</style></head><body>
<h1>{{.Title}}</h1>{{with .Subtitle}}<div class="sub">{{.}}</div>{{end}}
<table class="facts">{{range .Facts}}<tr><td>{{.Name}}</td><td>{{.Value}}</td></tr>{{end}}</table>
{{range .Sections}}<h2>{{.Title}}</h2>{{with .Note}}<p class="note">{{.}}</p>{{end}}
{{with .Chart}}{{svg .}}{{end}}
{{with .Table}}<table><tr>{{range .Head}}<th>{{.}}</th>{{end}}</tr>{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>{{end}}</table>{{end}}
{{end}}
</body></html>
`))

// chartSVG draws c. Everything from the caller goes through escaping: the
// labels as text, the numbers formatted here.
func chartSVG(c *Chart) template.HTML {
	var b strings.Builder
	x0, x1, y1 := math.Inf(1), math.Inf(-1), 0.0
	for _, s := range c.Series {
		for _, p := range s.Points {
			if isNum(p.X) && isNum(p.Y) {
				x0, x1, y1 = math.Min(x0, p.X), math.Max(x1, p.X), math.Max(y1, p.Y)
			}
		}
	}
	for _, bd := range c.Bands {
		x0, x1 = math.Min(x0, bd.From), math.Max(x1, bd.To)
	}
	if math.IsInf(x0, 1) {
		return template.HTML(`<p class="note">No data.</p>`)
	}
	if x1 <= x0 {
		x1 = x0 + 1
	}
	yTicks := niceTicks(0, y1*1.05)
	yTop := yTicks[len(yTicks)-1]
	if yTop <= 0 {
		yTop = 1
	}
	sx := func(x float64) float64 { return padL + (x-x0)/(x1-x0)*plotW }
	sy := func(y float64) float64 { return padT + plotH - y/yTop*plotH }
	fmt.Fprintf(&b, `<svg viewBox="0 0 %d %d" width="%d" height="%d" role="img">`, chartW, chartH, chartW, chartH)
	for _, bd := range c.Bands {
		color := "#f5b7b1"
		if bd.Class == BandGap {
			color = "#c0392b"
		}
		opacity := "0.35"
		if bd.Class == BandGap {
			opacity = "0.25"
		}
		w := math.Max(1, sx(bd.To)-sx(bd.From))
		fmt.Fprintf(&b, `<rect class="band-%s" x="%s" y="%d" width="%s" height="%d" fill="%s" fill-opacity="%s"><title>%s</title></rect>`,
			esc(bd.Class), f(sx(bd.From)), padT, f(w), plotH, color, opacity, esc(bd.Label))
	}
	for _, t := range yTicks {
		y := sy(t)
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%s" y2="%s" stroke="#e3e5e7"/>`, padL, padL+plotW, f(y), f(y))
		fmt.Fprintf(&b, `<text x="%d" y="%s" text-anchor="end">%s</text>`, padL-6, f(y+4), esc(short(t)))
	}
	xt := c.XTicks
	if xt == nil {
		for _, t := range niceTicks(x0, x1) {
			if t >= x0 && t <= x1 {
				xt = append(xt, Tick{At: t, Label: short(t)})
			}
		}
	}
	for _, t := range xt {
		x := sx(t.At)
		fmt.Fprintf(&b, `<line x1="%s" x2="%s" y1="%d" y2="%d" stroke="#999"/>`, f(x), f(x), padT+plotH, padT+plotH+4)
		fmt.Fprintf(&b, `<text x="%s" y="%d" text-anchor="middle">%s</text>`, f(x), padT+plotH+16, esc(t.Label))
	}
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#666"/>`, padL, padL+plotW, padT+plotH, padT+plotH)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`, padL+plotW/2, chartH-4, esc(c.XLabel))
	fmt.Fprintf(&b, `<text transform="translate(14 %d) rotate(-90)" text-anchor="middle">%s</text>`, padT+plotH/2, esc(c.YLabel))
	for i, s := range c.Series {
		var pts []string
		for _, p := range s.Points {
			if isNum(p.X) && isNum(p.Y) {
				pts = append(pts, f(sx(p.X))+","+f(sy(p.Y)))
			}
		}
		fmt.Fprintf(&b, `<polyline class="series" fill="none" stroke="%s" stroke-width="1.6" points="%s"><title>%s</title></polyline>`,
			palette[i%len(palette)], strings.Join(pts, " "), esc(s.Name))
	}
	b.WriteString(`</svg><div class="legend">`)
	for i, s := range c.Series {
		fmt.Fprintf(&b, `<span><i class="sw" style="background:%s"></i>%s</span>`, palette[i%len(palette)], esc(s.Name))
	}
	if len(c.Bands) > 0 {
		b.WriteString(`<span><i class="sw" style="background:#f5b7b1;height:10px"></i>fault in force</span>`)
		b.WriteString(`<span><i class="sw" style="background:#c0392b;opacity:.5;height:10px"></i>no operation succeeded</span>`)
	}
	b.WriteString(`</div>`)
	return template.HTML(b.String())
}

func esc(s string) string { return template.HTMLEscapeString(s) }

func isNum(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func f(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// short formats a tick value with as few digits as it needs.
func short(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// niceTicks returns about five round tick values covering [lo, hi].
func niceTicks(lo, hi float64) []float64 {
	if hi <= lo {
		hi = lo + 1
	}
	raw := (hi - lo) / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for v := math.Floor(lo/step) * step; v <= hi+step/2 && len(out) < 50; v += step {
		out = append(out, math.Round(v/step)*step)
	}
	return out
}
