package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/perfgate/perfgate/perftest/internal/compare"
	"github.com/perfgate/perfgate/perftest/internal/verdict"
	"github.com/perfgate/perfgate/thresholds"
	"github.com/perfgate/perfgate/thresholds/units"
)

// The charts of report.html are gonum/plot figures drawn by its SVG backend and
// inlined into the page, so the file needs nothing from the network.

// Sizes in points; the page scales them to its width.
const (
	wideW, wideH   = 720, 250
	roundW, roundH = 460, 200
	deltaW, deltaH = 260, 200
)

// Colours: one per series kind, and one palette for replicas. Okabe–Ito, which
// stays apart for the colour-blind.
var (
	colTarget    = rgb(0x55, 0x55, 0x55)
	colAchieved  = rgb(0x00, 0x72, 0xb2)
	colDrop      = rgb(0xd5, 0x5e, 0x00)
	colLimit     = rgb(0xc0, 0x1c, 0x28)
	colBaseline  = rgb(0x00, 0x72, 0xb2)
	colCandidate = rgb(0xd5, 0x5e, 0x00)
	colPair      = rgb(0xbb, 0xbb, 0xbb)
	colBetter    = rgb(0x00, 0x9e, 0x73)
	colNeutral   = rgb(0x44, 0x44, 0x44)
	quantileCols = map[string]color.Color{"p50": rgb(0x00, 0x9e, 0x73), "p95": rgb(0x00, 0x72, 0xb2), "p99": rgb(0xcc, 0x79, 0xa7)}
	palette      = []color.Color{rgb(0x00, 0x72, 0xb2), rgb(0xe6, 0x9f, 0x00), rgb(0x00, 0x9e, 0x73), rgb(0xcc, 0x79, 0xa7), rgb(0x56, 0xb4, 0xe9), rgb(0xd5, 0x5e, 0x00)}
)

func rgb(r, g, b uint8) color.Color { return color.RGBA{R: r, G: g, B: b, A: 0xff} }

func lineStyle(c color.Color, width vg.Length, dashed bool) draw.LineStyle {
	s := draw.LineStyle{Color: c, Width: width}
	if dashed {
		s.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	}
	return s
}

// newPlot is a plot with sans-serif text (the page's CSS names the font) and a
// legend above the plotting area, out of the data's way.
func newPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	for _, s := range []*draw.TextStyle{&p.Title.TextStyle, &p.X.Label.TextStyle, &p.Y.Label.TextStyle,
		&p.X.Tick.Label, &p.Y.Tick.Label, &p.Legend.TextStyle} {
		s.Font.Variant = "Sans"
	}
	p.Title.TextStyle.Font.Size = vg.Points(12)
	p.Title.Padding = vg.Points(6)
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(4)
	p.Legend.ThumbnailWidth = vg.Points(18)
	p.X.Padding, p.Y.Padding = vg.Points(2), vg.Points(2)
	p.Add(plotter.NewGrid())
	p.X.Tick.Marker = inUnit(units.Seconds)
	return p
}

// svg renders p at w×h points and returns the <svg> element alone, for
// inlining; with legendRight, the legend goes right of the plot, out of the data's way.
func svg(p *plot.Plot, w, h vg.Length, legendRight bool) ([]byte, error) {
	c := vgsvg.New(w, h)
	dc := draw.New(c)
	if legendRight {
		leg := p.Legend
		p.Legend = plot.NewLegend()
		lw := max(leg.Rectangle(dc).Size().X+vg.Points(8), w/4)
		p.Draw(draw.Crop(dc, 0, -lw, 0, 0))
		leg.Top, leg.Left, leg.XOffs, leg.YOffs = true, true, 0, -vg.Points(24)
		leg.Draw(draw.Crop(dc, w-lw, 0, 0, 0))
	} else {
		p.Draw(dc)
	}
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, err
	}
	out := buf.Bytes()
	i := bytes.Index(out, []byte("<svg"))
	if i < 0 {
		return nil, fmt.Errorf("report: gonum/plot wrote no <svg> element")
	}
	return bytes.TrimSpace(out[i:]), nil
}

// unitTicks put about six round ticks on an axis, labelled in a unit: "20ms",
// "40MiB". Round means round in the unit shown, so bytes step by 8MiB, not by 8.4e6.
type unitTicks struct {
	unit   units.Unit           // the unit whose scale the steps are round in
	format func(float64) string // nil: in the axis's common scale
}

func (u unitTicks) Ticks(lo, hi float64) []plot.Tick {
	scale := units.CommonScale(u.unit, lo, hi)
	format := u.format
	if format == nil {
		format = scale.Format
	}
	if !(hi > lo) || !finite(lo) || !finite(hi) {
		return []plot.Tick{{Value: lo, Label: format(lo)}}
	}
	step := niceStep((hi-lo)/scale.Factor/6) * scale.Factor
	var ts []plot.Tick
	for k := math.Ceil(lo/step - 1e-9); k*step <= hi+step*1e-9 && len(ts) < 40; k++ {
		v := k * step
		if math.Abs(v) < step*1e-9 {
			v = 0
		}
		ts = append(ts, plot.Tick{Value: v, Label: format(v)})
		if mid := v + step/2; mid <= hi {
			ts = append(ts, plot.Tick{Value: mid})
		}
	}
	return ts
}

// niceStep rounds a tick step to 1, 2, 2.5 or 5 times a power of ten.
func niceStep(v float64) float64 {
	if !(v > 0) || !finite(v) {
		return 1
	}
	exp := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5} {
		if m*exp >= v*(1-1e-9) {
			return m * exp
		}
	}
	return 10 * exp
}

// inUnit labels an axis in u, in one scale: that of its largest value.
func inUnit(u units.Unit) plot.Ticker { return unitTicks{unit: u} }

// roundTicks label whole rounds only.
type roundTicks struct{ n int }

func (r roundTicks) Ticks(float64, float64) []plot.Tick {
	ts := make([]plot.Tick, r.n)
	for i := range ts {
		ts[i] = plot.Tick{Value: float64(i + 1), Label: strconv.Itoa(i + 1)}
	}
	return ts
}

// segments splits a series at its unknown values, so a gap is drawn as a gap.
func segments(xs, ys []float64) []plotter.XYs {
	var out []plotter.XYs
	var cur plotter.XYs
	for i := range min(len(xs), len(ys)) {
		if !finite(ys[i]) || !finite(xs[i]) {
			if len(cur) > 0 {
				out = append(out, cur)
				cur = nil
			}
			continue
		}
		cur = append(cur, plotter.XY{X: xs[i], Y: ys[i]})
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// addSeries draws one series as lines between its gaps (a lone point as a dot)
// and names it once in the legend; it reports whether anything was drawn.
func addSeries(p *plot.Plot, name string, xs, ys []float64, style draw.LineStyle) bool {
	segs := segments(xs, ys)
	for i, seg := range segs {
		var thumb plot.Thumbnailer
		if len(seg) == 1 {
			s, _ := plotter.NewScatter(seg)
			s.GlyphStyle = draw.GlyphStyle{Color: style.Color, Radius: vg.Points(2), Shape: draw.CircleGlyph{}}
			p.Add(s)
			thumb = s
		} else {
			l, _ := plotter.NewLine(seg)
			l.LineStyle = style
			p.Add(l)
			thumb = l
		}
		if i == 0 && name != "" {
			p.Legend.Add(name, thumb)
		}
	}
	return len(segs) > 0
}

// addLimit draws a limit as a horizontal dashed line across [from, to] once
// the data are on the plot. A limit far above them would squash the data into
// the bottom of the chart: the legend then says it is above the chart instead.
func addLimit(p *plot.Plot, name string, from, to, y float64) {
	addLimitIn(p, name, from, to, y, colLimit)
}

func addLimitIn(p *plot.Plot, name string, from, to, y float64, col color.Color) {
	l, _ := plotter.NewLine(plotter.XYs{{X: from, Y: y}, {X: to, Y: y}})
	l.LineStyle = lineStyle(col, vg.Points(1.4), true)
	if top := p.Y.Max; top > 0 && y > top*limitHeadroom {
		p.Legend.Add(name+" (above the chart)", l)
		return
	}
	p.Add(l)
	p.Legend.Add(name, l)
}

// limitHeadroom is how far above the data a limit may be and still be drawn.
const limitHeadroom = 2.5

// stems draws a vertical line from zero to each value: events such as drops.
type stems struct {
	xys   plotter.XYs
	style draw.LineStyle
}

func (s stems) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	for _, xy := range s.xys {
		c.StrokeLine2(s.style, trX(xy.X), trY(0), trX(xy.X), trY(xy.Y))
	}
}

func (s stems) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax, _, ymax = plotter.XYRange(s.xys)
	return xmin, xmax, 0, ymax
}

func (s stems) Thumbnail(c *draw.Canvas) {
	x := (c.Min.X + c.Max.X) / 2
	c.StrokeLine2(s.style, x, c.Min.Y, x, c.Max.Y)
}

// bands shade the whole height of the plot over each second of xs.
type bands struct {
	xs   plotter.XYs
	fill color.Color
}

func (b bands) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	c.SetColor(b.fill)
	for _, xy := range b.xs {
		x0, x1 := trX(math.Max(xy.X-0.5, p.X.Min)), trX(math.Min(xy.X+0.5, p.X.Max))
		var path vg.Path
		path.Move(vg.Point{X: x0, Y: c.Min.Y})
		path.Line(vg.Point{X: x1, Y: c.Min.Y})
		path.Line(vg.Point{X: x1, Y: c.Max.Y})
		path.Line(vg.Point{X: x0, Y: c.Max.Y})
		path.Close()
		c.Fill(path)
	}
}

func (b bands) Thumbnail(c *draw.Canvas) {
	c.SetColor(b.fill)
	c.Fill(c.Rectangle.Path())
}

// chart is one figure of the page.
type chart struct {
	ID, Title string
	Caption   string // what is drawn, or why nothing is
	SVG       []byte // nil when there is nothing to draw
}

func seconds(r Run) []float64 {
	xs := make([]float64, len(r.Timeline))
	for i, p := range r.Timeline {
		xs[i] = p.T
	}
	return xs
}

func pick(ps []Point, f func(Point) float64) []float64 {
	out := make([]float64, len(ps))
	for i, p := range ps {
		out[i] = f(p)
	}
	return out
}

// knownPositive is vs with zeros (unknown in older data) as NaN.
func knownPositive(vs []float64) []float64 {
	out := make([]float64, len(vs))
	for i, v := range vs {
		out[i] = v
		if !(v > 0) {
			out[i] = math.NaN()
		}
	}
	return out
}

// aggregateLimit finds the aggregate check of one metric with one bound, the
// one a chart of that metric draws.
func aggregateLimit(cs []verdict.Check, match func(verdict.Check) bool) (verdict.Check, bool) {
	for _, c := range cs {
		if c.Instance == "" && match(c) {
			return c, true
		}
	}
	return verdict.Check{}, false
}

// replicaLimit finds a check of the metric, per instance first: replicas are drawn one by one.
func replicaLimit(cs []verdict.Check, metric thresholds.Metric) (verdict.Check, bool) {
	for _, c := range cs {
		if c.Metric == metric && c.Instance != "" && c.Op == "<=" {
			return c, true
		}
	}
	return aggregateLimit(cs, func(c verdict.Check) bool { return c.Metric == metric && c.Op == "<=" })
}

// limitName labels a limit line: "SLO error_rate ≤ 1%", and for latency the
// percentile it holds for, "SLO p95_latency: p95 ≤ 50ms".
func limitName(c verdict.Check) string {
	if c.Metric == thresholds.Latency && c.Quantile > 0 {
		return fmt.Sprintf("SLO %s: %s %s", c.Name, percentile(c.Quantile), limit(c, "≤", "≥"))
	}
	return fmt.Sprintf("SLO %s %s", c.Name, limit(c, "≤", "≥"))
}

func rateChart(r Run) (chart, error) {
	ch := chart{ID: "chart-rate", Title: "Arrival rate"}
	xs := seconds(r)
	p := newPlot("Arrival rate: target vs achieved", "seconds since load start", "requests per second")
	p.Y.Tick.Marker = inUnit(units.PerSecond)
	addSeries(p, "target", xs, pick(r.Timeline, func(p Point) float64 { return p.TargetRate }), lineStyle(colTarget, vg.Points(1.5), true))
	addSeries(p, "achieved (sent)", xs, pick(r.Timeline, func(p Point) float64 { return p.Rate }), lineStyle(colAchieved, vg.Points(1.5), false))
	var drops plotter.XYs
	var dropped int64
	for _, pt := range r.Timeline {
		if pt.Dropped > 0 {
			drops = append(drops, plotter.XY{X: pt.T, Y: float64(pt.Dropped)})
			dropped += pt.Dropped
		}
	}
	if len(drops) > 0 {
		b := bands{xs: drops, fill: color.NRGBA{R: 0xe6, G: 0x9f, B: 0x00, A: 0x50}}
		s := stems{xys: drops, style: lineStyle(colDrop, vg.Points(2.5), false)}
		p.Add(b, s)
		p.Legend.Add("second with drops", b)
		p.Legend.Add("dropped requests", s)
		ch.Caption = fmt.Sprintf("%d requests dropped in %s: due, but max_in_flight was reached.", dropped, plural(len(drops), "second"))
	} else {
		ch.Caption = "No request was dropped."
	}
	if c, ok := aggregateLimit(r.Result.Checks, func(c verdict.Check) bool {
		return c.Metric == thresholds.Throughput && c.Unit == units.PerSecond
	}); ok {
		addLimit(p, limitName(c)+" (server)", xs[0], xs[len(xs)-1], c.Limit)
	}
	return finish(ch, headroom(p), wideW, wideH)
}

func latencyChart(r Run) (chart, error) {
	ch := chart{ID: "chart-latency", Title: "Client latency"}
	xs := seconds(r)
	p := newPlot("Client latency percentiles, from the intended send time", "seconds since load start", "latency")
	p.Y.Tick.Marker = inUnit(units.Seconds)
	drawn := map[string]bool{}
	for _, q := range []struct {
		name string
		f    func(Point) float64
	}{{"p50", func(p Point) float64 { return p.P50 }}, {"p95", func(p Point) float64 { return p.P95 }}, {"p99", func(p Point) float64 { return p.P99 }}} {
		ms := knownPositive(pick(r.Timeline, q.f))
		for i := range ms {
			ms[i] /= 1000
		}
		drawn[q.name] = addSeries(p, q.name, xs, ms, lineStyle(quantileCols[q.name], vg.Points(1.5), false))
	}
	var missing []string
	for _, q := range []string{"p50", "p95", "p99"} {
		if !drawn[q] {
			missing = append(missing, q)
		}
	}
	for _, c := range r.Result.Checks {
		if q := percentile(c.Quantile); c.Metric == thresholds.Latency && c.Instance == "" && c.Op == "<=" && c.Unit == units.Seconds && drawn[q] {
			addLimitIn(p, limitName(c), xs[0], xs[len(xs)-1], c.Limit, quantileCols[q])
		}
	}
	if len(missing) == len(drawn) {
		ch.Caption = "The run recorded no client latency per second."
		return ch, nil
	}
	ch.Caption = "Each line is the percentile of the requests due in that second; dashed lines are the server-side SLO limits, in the colour of their percentile."
	if len(missing) > 0 {
		ch.Caption += " Not recorded in this run: " + strings.Join(missing, ", ") + "."
	}
	return finish(ch, headroom(p), wideW, wideH)
}

func errorChart(r Run) (chart, error) {
	ch := chart{ID: "chart-errors", Title: "Error rate"}
	xs := seconds(r)
	p := newPlot("Error rate per second (5xx and transport failures)", "seconds since load start", "errors / requests sent")
	p.Y.Tick.Marker = inUnit(units.Ratio)
	var total int64
	ratio := pick(r.Timeline, func(p Point) float64 {
		total += p.Errors
		if p.Rate <= 0 {
			return math.NaN()
		}
		return float64(p.Errors) / p.Rate
	})
	addSeries(p, "error rate", xs, ratio, lineStyle(colDrop, vg.Points(1.5), false))
	if c, ok := aggregateLimit(r.Result.Checks, func(c verdict.Check) bool {
		return c.Metric == thresholds.ErrorRate && c.Op == "<=" && c.Unit == units.Ratio
	}); ok {
		addLimit(p, limitName(c)+" (server)", xs[0], xs[len(xs)-1], c.Limit)
	}
	if total == 0 {
		ch.Caption = "No errors in the run."
	} else {
		ch.Caption = fmt.Sprintf("%d errors over the run.", total)
	}
	return finish(ch, headroom(p), wideW, wideH)
}

// replicaChart draws one line per replica of one server figure; without
// per-replica data the CPU chart falls back to the sum over all replicas.
func replicaChart(r Run, id, title, yLabel string, metric thresholds.Metric, u units.Unit, f func(ReplicaSeries) []float64) (chart, error) {
	ch := chart{ID: id, Title: title}
	xs := seconds(r)
	p := newPlot(title, "seconds since load start", yLabel)
	p.Y.Tick.Marker = inUnit(u)
	drawn := 0
	for i, rs := range r.Replicas {
		if addSeries(p, rs.Name, xs, f(rs), lineStyle(palette[i%len(palette)], vg.Points(1.5), false)) {
			drawn++
		}
	}
	switch {
	case len(r.Replicas) == 0 && metric == "cpu":
		cpu := pick(r.Timeline, func(p Point) float64 { return p.CPU })
		if !addSeries(p, "all replicas", xs, cpu, lineStyle(palette[0], vg.Points(1.5), false)) {
			ch.Caption = "No per-replica data, and server CPU was not sampled during the run."
			return ch, nil
		}
		ch.Caption = "No per-replica data: this is the CPU of all replicas together."
	case len(r.Replicas) == 0:
		ch.Caption = "No per-replica data in this run."
		return ch, nil
	case drawn == 0:
		ch.Caption = "Prometheus had no sample for any replica."
		return ch, nil
	case drawn < len(r.Replicas):
		ch.Caption = fmt.Sprintf("%d of %s had no sample.", len(r.Replicas)-drawn, plural(len(r.Replicas), "replica"))
	default:
		ch.Caption = "One line per replica; gaps are seconds without a sample."
	}
	if c, ok := replicaLimit(r.Result.Checks, metric); ok && c.Unit == u {
		addLimit(p, limitName(c), xs[0], xs[len(xs)-1], c.Limit)
	}
	return finish(ch, headroom(p), wideW, wideH)
}

// headroom starts the y axis at zero with a little room above the data.
func headroom(p *plot.Plot) *plot.Plot {
	p.Y.Min = 0
	if !(p.Y.Max > 0) {
		p.Y.Max = 1
	}
	p.Y.Max *= 1.08
	return p
}

func finish(ch chart, p *plot.Plot, w, h vg.Length) (chart, error) {
	b, err := svg(p, w, h, w > deltaW)
	if err != nil {
		return ch, err
	}
	ch.SVG = b
	return ch, nil
}

// timelineCharts are the charts over the run, in reading order.
func timelineCharts(r Run) ([]chart, error) {
	if len(r.Timeline) < 2 {
		return nil, nil
	}
	var out []chart
	for _, f := range []func(Run) (chart, error){
		rateChart, latencyChart, errorChart,
		func(r Run) (chart, error) {
			return replicaChart(r, "chart-cpu", "Server CPU per replica", "CPU (100% = one core)", thresholds.CPU, units.Ratio,
				func(rs ReplicaSeries) []float64 { return rs.CPU })
		},
		func(r Run) (chart, error) {
			return replicaChart(r, "chart-memory", "Server memory per replica (resident)", "resident set size", thresholds.Memory, units.Bytes,
				func(rs ReplicaSeries) []float64 { return rs.RSS })
		},
	} {
		ch, err := f(r)
		if err != nil {
			return nil, fmt.Errorf("report: chart: %w", err)
		}
		out = append(out, ch)
	}
	return out, nil
}

// roundsChart draws each round's value of both builds side by side, a thin line
// joining the two rounds of one pair (they ran at the same time), missing rounds as a cross.
func roundsChart(row compare.Row, id string) (chart, error) {
	ch := chart{ID: id, Title: row.Metric + " per round"}
	n := max(len(row.BaselineRounds), len(row.CandidateRounds))
	if n == 0 {
		ch.Caption = "No per-round values."
		return ch, nil
	}
	p := newPlot(row.Metric+": each pair of rounds, in the order run", "pair", "")
	p.Y.Tick.Marker = inUnit(row.Unit)
	p.X.Tick.Marker = roundTicks{n}
	p.X.Min, p.X.Max = 0.5, float64(n)+0.5
	at := func(vs []float64, i int) float64 {
		if i < len(vs) {
			return vs[i]
		}
		return math.NaN()
	}
	const off = 0.12
	var base, cand plotter.XYs
	var missing []int
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := range n {
		b, c := at(row.BaselineRounds, i), at(row.CandidateRounds, i)
		x := float64(i + 1)
		for _, v := range []float64{b, c} {
			if finite(v) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
		if finite(b) {
			base = append(base, plotter.XY{X: x - off, Y: b})
		}
		if finite(c) {
			cand = append(cand, plotter.XY{X: x + off, Y: c})
		}
		if finite(b) && finite(c) {
			l, _ := plotter.NewLine(plotter.XYs{{X: x - off, Y: b}, {X: x + off, Y: c}})
			l.LineStyle = lineStyle(colPair, vg.Points(1), false)
			p.Add(l)
		}
		if !finite(b) || !finite(c) {
			missing = append(missing, i)
		}
	}
	if !finite(lo) {
		ch.Caption = "No round has a value."
		return ch, nil
	}
	pad := (hi - lo) * 0.1
	if pad == 0 {
		pad = math.Max(math.Abs(lo)*0.05, 1e-9)
	}
	lo, hi = lo-pad, hi+pad
	for _, side := range []struct {
		name   string
		xys    plotter.XYs
		col    color.Color
		shape  draw.GlyphDrawer
		center float64
	}{
		{"baseline", base, colBaseline, draw.CircleGlyph{}, row.Baseline.Center},
		{"candidate", cand, colCandidate, draw.PyramidGlyph{}, row.Candidate.Center},
	} {
		if len(side.xys) == 0 {
			continue
		}
		s, _ := plotter.NewScatter(side.xys)
		s.GlyphStyle = draw.GlyphStyle{Color: side.col, Radius: vg.Points(3.5), Shape: side.shape}
		p.Add(s)
		p.Legend.Add(side.name, s)
		if finite(side.center) {
			l, _ := plotter.NewLine(plotter.XYs{{X: 0.5, Y: side.center}, {X: float64(n) + 0.5, Y: side.center}})
			l.LineStyle = lineStyle(side.col, vg.Points(0.8), true)
			p.Add(l)
		}
	}
	if len(missing) > 0 {
		var xys plotter.XYs
		var names []string
		for _, i := range missing {
			x := float64(i + 1)
			if !finite(at(row.BaselineRounds, i)) {
				xys = append(xys, plotter.XY{X: x - off, Y: lo + pad/2})
				names = append(names, fmt.Sprintf("baseline round %d", i+1))
			}
			if !finite(at(row.CandidateRounds, i)) {
				xys = append(xys, plotter.XY{X: x + off, Y: lo + pad/2})
				names = append(names, fmt.Sprintf("candidate round %d", i+1))
			}
		}
		s, _ := plotter.NewScatter(xys)
		s.GlyphStyle = draw.GlyphStyle{Color: colLimit, Radius: vg.Points(4.5), Shape: draw.CrossGlyph{}}
		p.Add(s)
		p.Legend.Add("missing round", s)
		ch.Caption = "Missing: " + strings.Join(names, ", ") + " (crosses at the bottom). "
	}
	ch.Caption += "Dots are rounds, a grey line joins the two builds' rounds of one pair, which ran at the same time, dashed lines are the medians."
	p.Y.Min, p.Y.Max = lo, hi
	return finish(ch, p, roundW, roundH)
}

// deltaChart draws the change over the pairs with its interval against the budget.
func deltaChart(row compare.Row, alpha float64, id string) (chart, error) {
	ch := chart{ID: id, Title: row.Metric + " change"}
	if !finite(row.Delta) {
		ch.Caption = "No change computed: " + row.Why
		return ch, nil
	}
	var bounds []float64
	if row.MaxIncrease != nil {
		bounds = append(bounds, *row.MaxIncrease)
	}
	if row.MaxDecrease != nil {
		bounds = append(bounds, -*row.MaxDecrease)
	}
	lo, hi := math.Min(0, row.Delta), math.Max(0, row.Delta)
	for _, v := range append([]float64{row.DeltaLo, row.DeltaHi}, bounds...) {
		if finite(v) {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	minSpan := 0.01 // a ratio's: one percent
	if row.Unit.Difference() {
		minSpan = 1e-12 // the metric's own unit, as small as a wait's microseconds: the budget sets the span
	}
	span := math.Max(hi-lo, minSpan)
	lo, hi = lo-span*0.15, hi+span*0.15
	ilo, ihi := row.DeltaLo, row.DeltaHi
	unbounded := !finite(ilo) || !finite(ihi)
	if !finite(ilo) {
		ilo = lo
	}
	if !finite(ihi) {
		ihi = hi
	}

	p := newPlot(row.Metric+": change vs budget", "candidate vs baseline", "")
	step := units.Ratio // a change is a ratio: steps of round percents
	if row.Unit.Difference() {
		step = row.Unit // a difference: steps of round KiB/1k, or µs
	}
	p.X.Tick.Marker = unitTicks{unit: step, format: row.Unit.FormatDelta}
	p.HideY()
	p.X.Min, p.X.Max = lo, hi
	p.Y.Min, p.Y.Max = -1, 2 // the legend takes the top

	zero, _ := plotter.NewLine(plotter.XYs{{X: 0, Y: -1}, {X: 0, Y: 1}})
	zero.LineStyle = lineStyle(colNeutral, vg.Points(0.8), false)
	p.Add(zero)
	for i, b := range bounds {
		l, _ := plotter.NewLine(plotter.XYs{{X: b, Y: -1}, {X: b, Y: 1}})
		l.LineStyle = lineStyle(colLimit, vg.Points(1.5), true)
		p.Add(l)
		if i == 0 {
			p.Legend.Add("budget "+row.Budget, l)
		}
	}
	col := colNeutral
	switch {
	case row.Fail:
		col = colLimit
	case row.Status == compare.Better:
		col = colBetter
	}
	iv, _ := plotter.NewLine(plotter.XYs{{X: ilo, Y: 0}, {X: ihi, Y: 0}})
	iv.LineStyle = lineStyle(col, vg.Points(3), false)
	p.Add(iv)
	p.Legend.Add(confidence(alpha)+" of the change", iv)
	pt, _ := plotter.NewScatter(plotter.XYs{{X: row.Delta, Y: 0}})
	pt.GlyphStyle = draw.GlyphStyle{Color: col, Radius: vg.Points(5), Shape: draw.CircleGlyph{}}
	p.Add(pt)
	p.Legend.Add("change over the pairs", pt)

	ch.Caption = fmt.Sprintf("%s %s, budget %s: %s.", row.Unit.FormatDelta(row.Delta),
		row.Unit.FormatInterval(row.DeltaLo, row.DeltaHi), budget(row), row.Status)
	if unbounded {
		ch.Caption += " The interval is unbounded: too few rounds to bound it; the bar runs to the edge."
	}
	return finish(ch, p, deltaW, deltaH)
}
