package report

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// writeCharts draws <name>-latency.png and <name>-throughput-cpu.png.
func (r *Run) writeCharts(dir string) ([]string, error) {
	rows := r.measured()
	if len(rows) == 0 {
		return nil, nil
	}
	lat := filepath.Join(dir, r.Name+"-latency.png")
	if err := r.latencyChart(rows, lat); err != nil {
		return nil, fmt.Errorf("report: latency chart: %w", err)
	}
	tc := filepath.Join(dir, r.Name+"-throughput-cpu.png")
	if err := r.throughputCPUChart(rows, tc); err != nil {
		return nil, fmt.Errorf("report: throughput chart: %w", err)
	}
	return []string{lat, tc}, nil
}

func (r *Run) measured() []Row {
	var out []Row
	for _, row := range r.Rows {
		if row.Skipped == "" {
			out = append(out, row)
		}
	}
	return out
}

func names(rows []Row) []string {
	n := make([]string, len(rows))
	for i, row := range rows {
		n[i] = row.Name
	}
	return n
}

// latencyChart draws one line per contender across the percentiles, on a
// log scale so that the floor and the tails fit one chart.
func (r *Run) latencyChart(rows []Row, path string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Latency at %d req/s, %d connections (lower is better)", r.Settings.Rate, r.Settings.Connections)
	p.Y.Label.Text = "ms (log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = ticks125{}
	p.X.Label.Text = "percentile"
	for i, row := range rows {
		l := row.Open.Latency
		pts := make(plotter.XYs, 0, 4)
		for x, d := range []time.Duration{l.P50, l.P90, l.P99, l.P999} {
			pts = append(pts, plotter.XY{X: float64(x), Y: max(msf(d), 0.001)}) // log scale needs > 0
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		line.Color, points.Color = plotutil.Color(i), plotutil.Color(i)
		line.Width = vg.Points(1.5)
		points.Shape = plotutil.Shape(i)
		p.Add(line, points)
		p.Legend.Add(row.Name, line, points)
	}
	p.Legend.Top = false // lines rise to the right: bottom right stays clear
	p.Legend.Left = false
	p.Legend.XOffs = -vg.Millimeter * 2
	p.NominalX("p50", "p90", "p99", "p99.9")
	p.Add(plotter.NewGrid())
	return p.Save(16*vg.Centimeter, 11*vg.Centimeter, path)
}

// throughputCPUChart draws max req/s and proxy CPU per 1k requests side by
// side.
func (r *Run) throughputCPUChart(rows []Row, path string) error {
	thr, _ := barPlot("Max req/s, closed loop (higher is better)", "req/s", rows,
		func(x Row) float64 { return x.Closed.Throughput }, plotutil.Color(0))
	cpu, cpuBars := barPlot("Proxy CPU per 1k requests (lower is better)", "CPU seconds (at max load)", rows,
		func(x Row) float64 { return max(0, x.CPUPer1kClosed) }, plotutil.Color(1))
	if thr == nil || cpu == nil {
		return fmt.Errorf("no bars")
	}
	if r.Settings.CPURate > 0 {
		// The fixed-rate figure beside the max-load one.
		if err := r.addFixedBars(cpu, cpuBars, rows); err != nil {
			return err
		}
	}
	width := vg.Length(2 * (70*len(rows) + 100))
	img := vgimg.New(width, 10*vg.Centimeter)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Millimeter * 6, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2}
	canvases := plot.Align([][]*plot.Plot{{thr, cpu}}, tiles, dc)
	thr.Draw(canvases[0][0])
	cpu.Draw(canvases[0][1])
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func barPlot(title, unit string, rows []Row, value func(Row) float64, c color.Color) (*plot.Plot, *plotter.BarChart) {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = unit
	p.Y.Min = 0
	vals := make(plotter.Values, len(rows))
	for i, row := range rows {
		vals[i] = value(row)
	}
	bars, err := plotter.NewBarChart(vals, vg.Points(24))
	if err != nil {
		return nil, nil
	}
	bars.LineStyle.Width = 0
	bars.Color = c
	p.Add(plotter.NewGrid(), bars)
	p.NominalX(names(rows)...)
	return p, bars
}

// addFixedBars narrows the max-load bars of p and adds the CPU at the fixed
// rate beside each, with a legend.
func (r *Run) addFixedBars(p *plot.Plot, maxLoad *plotter.BarChart, rows []Row) error {
	vals := make(plotter.Values, len(rows))
	for i, row := range rows {
		if r.fixedRan(row) {
			vals[i] = max(0, row.CPUPer1kFixed)
		}
	}
	fixed, err := plotter.NewBarChart(vals, vg.Points(12))
	if err != nil {
		return err
	}
	fixed.LineStyle.Width = 0
	fixed.Color = plotutil.Color(2)
	fixed.Offset = vg.Points(6)
	maxLoad.Width, maxLoad.Offset = vg.Points(12), -vg.Points(6)
	p.Legend.Add("at max load", maxLoad)
	p.Add(fixed)
	p.Legend.Add(fmt.Sprintf("at %d req/s", r.Settings.CPURate), fixed)
	p.Legend.Top = true
	p.Y.Label.Text = "CPU seconds"
	return nil
}

func msf(d time.Duration) float64 { return d.Seconds() * 1000 }

// ticks125 labels a log axis at 1-2-5 steps (0.1, 0.2, 0.5, 1, 2, 5, …), so
// that a range inside one decade still gets readable labels.
type ticks125 struct{}

func (ticks125) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	for decade := math.Pow(10, math.Floor(math.Log10(lo))); decade <= hi && len(out) < 60; decade *= 10 {
		for _, m := range []float64{1, 2, 5} {
			if v := m * decade; v >= lo && v <= hi {
				out = append(out, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
			}
		}
	}
	return out
}
