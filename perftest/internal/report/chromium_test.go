package report

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var screenshots = flag.String("screenshots", "", "write full-page screenshots of report.html, and the DOM Chromium drew, into this directory")

// chromium finds a Chromium to drive. Without one the browser tests skip on a
// laptop, but fail in CI (CI set), where .ci/run installs Debian's chromium.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no Chromium on PATH: in CI the report.html browser test must run; install Debian's chromium package (.ci/run does)")
	}
	t.Skip("no Chromium on PATH: apt-get install chromium to open report.html in a real browser")
	return ""
}

// browser starts a headless Chromium for the test and returns its context.
func browser(t *testing.T, path string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // root in CI containers
		chromedp.WindowSize(1200, 900),
		chromedp.Flag("hide-scrollbars", true),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	require.NoError(t, chromedp.Do(bctx), "start Chromium at %s", path)
	return bctx
}

// tab opens a new tab that reports its page's problems to probs.
func tab(t *testing.T, browser context.Context, probs *pageProblems, self string) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithListener(listener(probs, self)))
	t.Cleanup(cancel)
	require.NoError(t, chromedp.Do(ctx, enable))
	return ctx
}

// enable turns on the protocol domains whose events the listener reads.
var enable = chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
	if _, err := cdp.Call(ctx, t, runtime.Enable, cdp.Empty{}); err != nil {
		return err
	}
	if _, err := cdp.Call(ctx, t, log.Enable, cdp.Empty{}); err != nil {
		return err
	}
	_, err := cdp.Call(ctx, t, network.Enable, network.EnableParams{})
	return err
})

var noScript = chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
	_, err := cdp.Call(ctx, t, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
	return err
})

// pageProblems collects what a page must never do: log an error to the
// console, throw, or ask for anything that is not its own file.
type pageProblems struct {
	mu   sync.Mutex
	list []string
}

func (p *pageProblems) add(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.list = append(p.list, fmt.Sprintf(format, args...))
}

func (p *pageProblems) get() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.list...)
}

func listener(probs *pageProblems, self string) func(ev any) {
	return func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning || e.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				probs.add("console.%s: %s", e.Type, strings.Join(args, " "))
			}
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			what := d.Text
			if d.Exception != nil {
				what += " " + d.Exception.Description
			}
			probs.add("%s at %s:%d", what, d.URL, d.LineNumber+1)
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError || e.Entry.Level == log.EntryLevelWarning {
				probs.add("log %s (%s): %s %s", e.Entry.Level, e.Entry.Source, e.Entry.Text, e.Entry.URL)
			}
		case *network.EventRequestWillBeSent:
			if u := e.Request.URL; u != self && !strings.HasPrefix(u, "data:") {
				probs.add("request to %s", u)
			}
		}
	}
}

type chartBox struct {
	ID     string  `json:"id"`
	Drawn  string  `json:"drawn"`
	SVGs   int     `json:"svgs"`
	Shapes int     `json:"shapes"`
	Width  float64 `json:"width"`
	Height float64 `json:"height"`
}

const chartsJS = `Array.from(document.querySelectorAll("figure.chart")).map(f => {
  const svg = f.querySelector("svg"); const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  return {id: f.id, drawn: f.dataset.drawn, svgs: f.querySelectorAll("svg").length,
          shapes: f.querySelectorAll("svg path, svg text").length, width: box.width, height: box.height};
})`

// inked is the share of an image's pixels that are not near-white.
func inked(img image.Image) float64 {
	b := img.Bounds()
	var n int
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r < 0xe000 || g < 0xe000 || bl < 0xe000 {
				n++
			}
		}
	}
	return float64(n) / float64(max(1, b.Dx()*b.Dy()))
}

// TestHTMLInChromium opens report.html from a file:// URL in headless
// Chromium: no console error, no request beyond the file, every chart an SVG
// with shapes in the DOM and ink in its screenshot, and the template table
// sorted by its script and readable without it.
func TestHTMLInChromium(t *testing.T) {
	path := chromium(t)
	ctx := browser(t, path)
	dir := t.TempDir()

	for _, rn := range htmlRuns {
		t.Run(rn.name, func(t *testing.T) {
			file := filepath.Join(dir, rn.name, "report.html")
			require.NoError(t, os.MkdirAll(filepath.Dir(file), 0o755))
			require.NoError(t, os.WriteFile(file, []byte(render(t, HTML(rn.run()))), 0o644))
			url := "file://" + file

			probs := &pageProblems{}
			tctx := tab(t, ctx, probs, url)
			require.NoError(t, chromedp.Do(tctx, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("footer"))))
			boxes, err := chromedp.Run(tctx, chromedp.Evaluate[[]chartBox](chartsJS))
			require.NoError(t, err)
			dom, err := chromedp.Run(tctx, chromedp.OuterHTML(chromedp.CSS("html")))
			require.NoError(t, err)
			full, err := chromedp.Run(tctx, chromedp.FullScreenshot(100))
			require.NoError(t, err)

			drawn := 0
			for _, b := range boxes {
				if b.Drawn != "true" {
					assert.Zero(t, b.SVGs, "%s says it has nothing to draw but holds an SVG", b.ID)
					continue
				}
				drawn++
				assert.Equal(t, 1, b.SVGs, b.ID)
				assert.Greater(t, b.Shapes, 20, "%s: an SVG without axes and data", b.ID)
				assert.Greater(t, b.Width, 200.0, b.ID)
				assert.Greater(t, b.Height, 80.0, b.ID)

				shot, err := chromedp.Run(tctx, chromedp.Screenshot(chromedp.CSS("#"+b.ID+" svg")))
				require.NoError(t, err, b.ID)
				img, err := png.Decode(bytes.NewReader(shot))
				require.NoError(t, err, b.ID)
				ink := inked(img)
				assert.Greater(t, ink, 0.02, "%s: the screenshot of the chart is blank", b.ID)
			}
			assert.Equal(t, drawn, strings.Count(dom, "<svg"), "every drawn chart is an <svg> in the DOM")
			if len(rn.run().Timeline) >= 2 {
				assert.GreaterOrEqual(t, drawn, 3, "rate, latency and errors are always drawn")
			}
			img, err := png.Decode(bytes.NewReader(full))
			require.NoError(t, err)
			assert.Greater(t, inked(img), 0.02, "the page screenshot is blank")
			if *screenshots != "" {
				require.NoError(t, os.MkdirAll(*screenshots, 0o755))
				require.NoError(t, os.WriteFile(filepath.Join(*screenshots, rn.name+".png"), full, 0o644))
				require.NoError(t, os.WriteFile(filepath.Join(*screenshots, rn.name+".html"), []byte(dom), 0o644))
			}
			assert.Empty(t, probs.get(), "the page must open without console errors or requests")
		})
	}
}

func TestHTMLTemplateTableSortsAndWorksWithoutScript(t *testing.T) {
	path := chromium(t)
	ctx := browser(t, path)
	file := filepath.Join(t.TempDir(), "report.html")
	require.NoError(t, os.WriteFile(file, []byte(render(t, HTML(detailedPassRun()))), 0o644))
	url := "file://" + file
	const names = `Array.from(document.querySelectorAll("#templates tbody tr td:first-child")).map(td => td.textContent)`
	inWorkloadOrder := []string{"list_tasks", "create_task", "get_task", "delete_task"}

	probs := &pageProblems{}
	tctx := tab(t, ctx, probs, url)
	require.NoError(t, chromedp.Do(tctx, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("footer"))))
	order := func(click string) []string {
		t.Helper()
		if click != "" {
			require.NoError(t, chromedp.Do(tctx, chromedp.Click(chromedp.CSS("#templates thead th:nth-child("+click+") button"))))
		}
		got, err := chromedp.Run(tctx, chromedp.Evaluate[[]string](names))
		require.NoError(t, err)
		return got
	}
	before := order("")
	byP95 := order("6")
	byP95Desc := order("6")
	byName := order("1")
	assert.Equal(t, inWorkloadOrder, before)
	assert.Equal(t, []string{"get_task", "delete_task", "create_task", "list_tasks"}, byP95, "p95 ascending")
	assert.Equal(t, []string{"list_tasks", "create_task", "delete_task", "get_task"}, byP95Desc, "p95 descending")
	assert.Equal(t, []string{"create_task", "delete_task", "get_task", "list_tasks"}, byName)
	assert.Empty(t, probs.get())

	// With scripts disabled the table is there in workload order, and the charts too.
	nctx := tab(t, ctx, &pageProblems{}, url)
	require.NoError(t, chromedp.Do(nctx, noScript, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("footer"))))
	dom, err := chromedp.Run(nctx, chromedp.OuterHTML(chromedp.CSS("html")))
	require.NoError(t, err)
	table := dom[strings.Index(dom, `id="templates"`):]
	table = table[:strings.Index(table, "</table>")]
	var rows []string
	for _, m := range templateName.FindAllStringSubmatch(table, -1) {
		rows = append(rows, m[1])
	}
	assert.Equal(t, inWorkloadOrder, rows)
	assert.NotContains(t, dom, "<button", "the script did not run")
	assert.Equal(t, 5, strings.Count(dom, "<svg"), "the charts are plain SVG, drawn without the script")
}

var templateName = regexp.MustCompile(`<td data-key="[^"]*"><code>([^<]*)</code></td>`)

func TestInkedTellsABlankScreenshot(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 10, 10))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	assert.Zero(t, inked(img))
	for x := range 10 {
		img.Set(x, 0, color.Black)
	}
	assert.InDelta(t, 0.1, inked(img), 1e-9)
}

// The twin of TestHTMLInChromium: a page that logs an error, throws and asks
// for something beyond itself is caught on all three counts.
func TestChromiumCatchesConsoleErrorsAndRequests(t *testing.T) {
	path := chromium(t)
	ctx := browser(t, path)
	file := filepath.Join(t.TempDir(), "broken.html")
	require.NoError(t, os.WriteFile(file, []byte(`<!DOCTYPE html><html><body>
<img src="http://127.0.0.1:1/nothing.png">
<script>console.error("broken on purpose"); undefinedFunction();</script>
<footer></footer></body></html>`), 0o644))
	url := "file://" + file
	probs := &pageProblems{}
	tctx := tab(t, ctx, probs, url)
	require.NoError(t, chromedp.Do(tctx, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("footer"))))
	require.Eventually(t, func() bool { return len(probs.get()) >= 3 }, 10*time.Second, 50*time.Millisecond)
	got := strings.Join(probs.get(), "\n")
	assert.Contains(t, got, "broken on purpose")
	assert.Contains(t, got, "undefinedFunction is not defined")
	assert.Contains(t, got, "request to http://127.0.0.1:1/nothing.png")
}
