package main

import (
	"fmt"
	"math"
	"strings"
)

// chart draws latency against concurrency (both axes logarithmic) for the
// memories scenarios: one panel each, p50 solid and p99 dashed, for the
// gateway, the direct path and PostGraphile. Plain SVG, no dependency.
func chart(results []result) string {
	const (
		panelW, panelH = 420.0, 300.0
		left, top      = 60.0, 50.0
		gap            = 70.0
		plotW, plotH   = panelW - 20, panelH - 60
	)
	series := []struct{ system, color string }{
		{"gateway", "#1f77b4"}, {"direct", "#2ca02c"}, {"postgraphile", "#d62728"},
	}
	panels := []string{"memories20", "memories100"}
	concs := concurrencies(results)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range results {
		if contains(panels, r.scenario) {
			lo = math.Min(lo, r.ms(0.5))
			hi = math.Max(hi, r.ms(0.99))
		}
	}
	if len(concs) == 0 || math.IsInf(lo, 0) {
		return `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>`
	}
	yLo, yHi := math.Floor(math.Log10(math.Max(lo, 0.01))), math.Ceil(math.Log10(math.Max(hi, 0.1)))
	if yHi <= yLo {
		yHi = yLo + 1
	}
	xLo, xHi := math.Log2(float64(concs[0])), math.Log2(float64(concs[len(concs)-1]))
	if xHi <= xLo {
		xHi = xLo + 1
	}
	width := left + 2*panelW + gap
	height := top + panelH + 40
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="20" font-size="15" font-weight="bold">Latency against concurrency (log-log): p50 solid, p99 dashed</text>`+"\n", left)
	for p, scen := range panels {
		x0 := left + float64(p)*(panelW+gap)
		y0 := top
		xOf := func(c int) float64 { return x0 + (math.Log2(float64(c))-xLo)/(xHi-xLo)*plotW }
		yOf := func(ms float64) float64 {
			return y0 + plotH - (math.Log10(math.Max(ms, 0.01))-yLo)/(yHi-yLo)*plotH
		}
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-weight="bold">%s { app categories }</text>`+"\n", x0, y0-10, strings.Replace(scen, "memories", "memories(first: ", 1)+")")
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="#888"/>`+"\n", x0, y0, plotW, plotH)
		for e := yLo; e <= yHi; e++ {
			y := yOf(math.Pow(10, e))
			fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x0, x0+plotW, y, y)
			fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end">%s ms</text>`+"\n", x0-5, y+4, trimFloat(math.Pow(10, e)))
		}
		for _, c := range concs {
			x := xOf(c)
			fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.0f" y2="%.0f" stroke="#ddd"/>`+"\n", x, x, y0, y0+plotH)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%d</text>`+"\n", x, y0+plotH+16, c)
		}
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle">concurrent clients</text>`+"\n", x0+plotW/2, y0+plotH+34)
		for _, s := range series {
			for _, q := range []struct {
				p    float64
				dash string
			}{{0.5, ""}, {0.99, ` stroke-dasharray="5,4"`}} {
				var pts []string
				for _, c := range concs {
					if r, ok := find(results, scen, s.system, c); ok {
						pts = append(pts, fmt.Sprintf("%.1f,%.1f", xOf(c), yOf(r.ms(q.p))))
					}
				}
				if len(pts) > 0 {
					fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(pts, " "), s.color, q.dash)
					for _, pt := range pts {
						xy := strings.Split(pt, ",")
						fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="2.5" fill="%s"/>`+"\n", xy[0], xy[1], s.color)
					}
				}
			}
		}
	}
	for i, s := range series {
		x := left + float64(i)*140
		y := height - 8
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.0f" y2="%.0f" stroke="%s" stroke-width="3"/><text x="%.0f" y="%.0f">%s</text>`+"\n",
			x, x+20, y-4, y-4, s.color, x+25, y, s.system)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func trimFloat(f float64) string {
	s := fmt.Sprintf("%.2f", f)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}
