package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/test/providerfake"
)

// Tests of the web page at / and the docs at /docs in headless Chromium,
// driven through the DevTools protocol against the built binary.

// chromium returns the path of the browser: CODECHECK_CHROMIUM, or the
// first of the usual names on PATH. Without one the test skips, loudly,
// except under CI=true, where it fails (.ci/run installs Chromium).
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CODECHECK_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "SKIPPING the browser tests: no Chromium found (apt-get install chromium, or set CODECHECK_CHROMIUM)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI=true requires it")
	}
	t.Skip(msg)
	return ""
}

// artifactsDir is where screenshots go: CODECHECK_ARTIFACTS_DIR, else
// test/e2e/artifacts (ignored by git).
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("CODECHECK_ARTIFACTS_DIR")
	if dir == "" {
		dir = "artifacts"
	}
	dir, err := filepath.Abs(dir)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// tab is one browser tab and every URL it requested.
type tab struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	requests []string
}

func newTab(t *testing.T, width, height int) *tab {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // root in a container
		chromedp.WindowSize(width, height),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	b := &tab{t: t, ctx: ctx}
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			b.mu.Lock()
			b.requests = append(b.requests, e.Request.URL)
			b.mu.Unlock()
		}
	}))
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("about:blank")))
	return b
}

func (b *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.fail("browser action", err)
	}
}

// waitFor polls the JavaScript expression cond in the page until it is
// true, failing the test after timeout.
func (b *tab) waitFor(what, cond string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		_, err := chromedp.Run(b.ctx, chromedp.Poll[bool](cond,
			chromedp.WithPollingTimeout(time.Until(deadline)), chromedp.WithPollingInterval(50*time.Millisecond)))
		if err == nil {
			return
		}
		// A poll that began as the page was replaced by a navigation
		// lost its JavaScript context; poll again in the new one.
		if !contextGone(err) || time.Now().After(deadline) {
			b.fail("waiting for "+what, err)
		}
	}
}

func contextGone(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "Cannot find context with specified id") ||
		strings.Contains(msg, "Execution context was destroyed")
}

func (b *tab) fail(what string, err error) {
	b.t.Helper()
	text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(document.getElementById("main") || document.body).innerText.slice(0, 3000)`))
	b.t.Fatalf("%s: %v\npage text:\n%s", what, err, text)
}

func evalJS[T any](b *tab, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.fail("evaluating "+expr, err)
	}
	return v
}

func (b *tab) screenshot(dir, name string) string {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	require.NoError(b.t, err)
	path := filepath.Join(dir, name)
	require.NoError(b.t, os.WriteFile(path, png, 0o644))
	b.t.Logf("screenshot: %s", path)
	return path
}

// requireOnlyOrigin checks that every request the tab made went to base
// (or stayed in the browser: data: and blob: URLs).
func (b *tab) requireOnlyOrigin(base string) {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	require.NotEmpty(b.t, b.requests)
	for _, u := range b.requests {
		if u == "about:blank" || strings.HasPrefix(u, "data:") || strings.HasPrefix(u, "blob:") {
			continue
		}
		require.True(b.t, strings.HasPrefix(u, base+"/"), "the page requested %s, which is not on %s", u, base)
	}
}

func (b *tab) requireNoRequestContains(s string) {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, u := range b.requests {
		require.NotContains(b.t, u, s)
	}
}

// jobsListed is true once the jobs list has loaded n rows.
func jobsListed(n int) string {
	return fmt.Sprintf(`!document.getElementById("jobs-table").hasAttribute("aria-busy") && `+
		`document.querySelectorAll("#jobs-body tr").length === %d`, n)
}

const allSectionsDone = `document.querySelectorAll('#sections li[data-status="completed"]').length === 13`

// submitThroughPage types an address into the form and submits it with
// the keyboard, choosing the provider and a project scope, and waits for
// the job view.
func (b *tab) submitThroughPage(base, provider, address string, more ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	b.do(chromedp.Navigate(base + "/"))
	b.waitFor("the provider list from the spec", fmt.Sprintf(`document.querySelector('#provider option[value="%s"]') !== null`, provider), 20*time.Second)
	b.do(
		chromedp.SetValue(chromedp.CSS("#provider"), provider),
		chromedp.Click(chromedp.CSS("#project summary")),
		chromedp.SetValue(chromedp.CSS("#p-scope"), "adu"),
		chromedp.SendKeys(chromedp.CSS("#p-use"), "single-family dwelling"),
		// The value is set rather than typed: typed, the browser's form
		// history could offer an earlier address, and Enter would take it.
		chromedp.SetValue(chromedp.CSS("#address"), address),
	)
	b.do(more...)
	b.do(chromedp.SendKeys(chromedp.CSS("#address"), kb.Enter))
	b.waitFor("the job view", `!document.getElementById("job-view").hidden && location.search.startsWith("?job=")`, 20*time.Second)
}

// The page, driven as a user would: a job submitted through the form runs
// to the end while all 13 sections show done over the live stream; the
// report shows key facts and findings citing numbered sources with links;
// the Markdown downloads; a job whose address carries markup shows it as
// text; and the docs page renders the spec from the binary's own assets and
// its "Try it" example succeeds. Nothing is requested from another host.
func TestBrowserPageRunsAJob(t *testing.T) {
	chromium(t) // skips (or fails under CI) before anything starts
	srv := launchServe(t, "127.0.0.1", serveEnv(t, "sqlite:"+filepath.Join(t.TempDir(), "codecheck.db")))
	artifacts := artifactsDir(t)
	b := newTab(t, 1280, 900)

	const address = "1600 Pennsylvania Ave NW, Washington, DC 20500"
	b.submitThroughPage(srv.base, "fake", address)
	require.Equal(t, address, evalJS[string](b, `document.getElementById("job-address").textContent`))
	require.Equal(t, "job-address", evalJS[string](b, `document.activeElement.id`), "focus moves to the job")
	b.waitFor("all 13 sections done", allSectionsDone, time.Minute)
	b.waitFor("the job completed", `document.getElementById("job-status").dataset.status === "completed"`, 30*time.Second)
	require.Equal(t, "13/13", evalJS[string](b, `document.getElementById("job-progress-text").textContent`))
	require.Contains(t, evalJS[string](b, `document.getElementById("job-progress-label").textContent`), "13 of 13 sections done")

	// The report: a banner for the simulated provider, key facts, and
	// every section with findings citing its numbered sources.
	b.waitFor("the report", `!document.getElementById("report").hidden`, 30*time.Second)
	require.Contains(t, evalJS[string](b, `document.querySelector("#report .banner").textContent`), "Simulated")
	require.Equal(t, 13, evalJS[int](b, `document.querySelectorAll("#report article.section").length`))
	require.Equal(t, "https://codecheck.invalid/simulated/zoning_use",
		evalJS[string](b, `document.querySelector('#sec-zoning_use .sources a[href^="https://"]').href`), "a source link")
	require.Equal(t, "#src-zoning_use-1", evalJS[string](b, `document.querySelector("#sec-zoning_use .findings a.ref").getAttribute("href")`))
	require.True(t, evalJS[bool](b, `document.getElementById("src-zoning_use-1") !== null`), "the finding's source number points at its source")
	// Following the source number jumps within the report; it does not
	// reload the job.
	b.do(chromedp.Evaluate[chromedp.Void](`document.getElementById("report-body").dataset.marker = "kept"`))
	b.do(chromedp.Click(chromedp.CSS("#sec-zoning_use .findings a.ref")))
	b.waitFor("the jump to the source", `location.hash === "#src-zoning_use-1" && document.querySelector(":target") !== null`, 10*time.Second)
	require.Equal(t, "src-zoning_use-1", evalJS[string](b, `document.querySelector(":target").id`))
	require.Equal(t, "kept", evalJS[string](b, `document.getElementById("report-body").dataset.marker || ""`))
	require.Equal(t, 13, evalJS[int](b, `document.querySelectorAll("#report article.section").length`))
	require.Contains(t, evalJS[string](b, `document.querySelector("#sec-zoning_use .meta").textContent`), "needs verification with")
	require.Contains(t, evalJS[string](b, `document.querySelector("#sec-zoning_use .meta").textContent`), "low")
	require.Contains(t, evalJS[string](b, `document.getElementById("report-usage").textContent`), "Tokens:")
	b.do(chromedp.Evaluate[chromedp.Void](`document.activeElement.blur(); window.scrollTo(0, 0)`))
	b.screenshot(artifacts, "page-desktop.png")
	b.do(chromedp.Evaluate[chromedp.Void](`document.getElementById("report").scrollIntoView()`))
	b.screenshot(artifacts, "page-report.png")
	b.do(chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))

	// Download the Markdown through the button.
	downloads := t.TempDir()
	_, err := chromedp.CallBrowser(b.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads, EventsEnabled: new(true)})
	require.NoError(t, err)
	progress := chromedp.BrowserEvents(b.ctx, browser.DownloadProgress)
	b.do(chromedp.Click(chromedp.CSS("#download-button")))
	var file string
	for ev, err := range progress {
		require.NoError(t, err)
		if ev.State == browser.DownloadProgressStateCompleted {
			file = filepath.Join(downloads, ev.GUID)
			break
		}
		require.NotEqual(t, browser.DownloadProgressStateCanceled, ev.State)
	}
	md, err := os.ReadFile(file)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(md), "# Building code report: "+address), string(md[:min(len(md), 200)]))

	// At phone width nothing is wider than the screen.
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	b.waitFor("the phone layout", `window.innerWidth === 390`, 10*time.Second)
	require.True(t, evalJS[bool](b, `document.documentElement.scrollWidth <= window.innerWidth`),
		"the page scrolls sideways at 390px: %d", evalJS[int](b, `document.documentElement.scrollWidth`))
	b.do(chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	b.screenshot(artifacts, "page-phone.png")
	b.do(chromedp.EmulateViewport(1280, 900))

	// The recent jobs list shows the job with its status.
	b.do(chromedp.Click(chromedp.CSS("#back-link")))
	b.waitFor("the job in the list", jobsListed(1), 20*time.Second)
	require.Equal(t, "completed", evalJS[string](b, `document.querySelector("#jobs-body tr .badge").dataset.status`))
	require.Equal(t, address, evalJS[string](b, `document.querySelector("#jobs-body tr a").textContent`))

	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	b.waitFor("the phone layout", `window.innerWidth === 390`, 10*time.Second)
	require.True(t, evalJS[bool](b, `document.documentElement.scrollWidth <= window.innerWidth`),
		"the home page scrolls sideways at 390px: %d", evalJS[int](b, `document.documentElement.scrollWidth`))
	b.screenshot(artifacts, "home-phone.png")
	b.do(chromedp.EmulateViewport(1280, 900))

	firstJob := evalJS[string](b, `new URLSearchParams(location.search).get("job") || document.querySelector("#jobs-body tr").dataset.jobId`)

	t.Run("a second check of the address shows the reused sections", func(t *testing.T) {
		b.submitThroughPage(srv.base, "fake", address)
		b.waitFor("all 13 sections done", allSectionsDone, time.Minute)
		b.waitFor("the report", `!document.getElementById("report").hidden`, 30*time.Second)
		require.Equal(t, "?job="+firstJob, evalJS[string](b, `document.querySelector("#sec-adopted_codes .reused a").getAttribute("href")`))
		require.Contains(t, evalJS[string](b, `document.querySelector("#sec-adopted_codes .reused").textContent`), "Reused from job "+firstJob)
		require.Zero(t, evalJS[int](b, `document.querySelectorAll("#sec-zoning_use .reused").length`), "zoning depends on the parcel")
	})

	t.Run("verification shows each finding's verdict", func(t *testing.T) {
		b.submitThroughPage(srv.base, "fake", "100 N 1st St, Springfield, IL 62701",
			chromedp.Click(chromedp.CSS("#options summary")),
			chromedp.Click(chromedp.CSS("#o-verify")))
		b.waitFor("all 13 sections done", allSectionsDone, time.Minute)
		b.waitFor("the verified report", `!document.getElementById("report").hidden && `+
			`document.querySelector('#sec-zoning_use .findings [data-verdict]') !== null`, 30*time.Second)
		// The fake provider reads no page, so it can verify nothing.
		require.Equal(t, "unverifiable", evalJS[string](b, `document.querySelector('#sec-zoning_use .findings [data-verdict]').textContent`))
		require.Contains(t, evalJS[string](b, `document.getElementById("sec-zoning_use").textContent`), "verified against their sources")
	})

	t.Run("markup in the address and in model output renders as text", func(t *testing.T) {
		// The fake provider echoes the address into every section's
		// summary, so this is model output as well.
		const hostile = `12 Main St <script>window.__xss=1</script><img src=x onerror="window.__xss=2">, Springfield, IL`
		b.submitThroughPage(srv.base, "fake", hostile)
		b.waitFor("all 13 sections done", allSectionsDone, time.Minute)
		b.waitFor("the report", `!document.getElementById("report").hidden`, 30*time.Second)
		require.Equal(t, hostile, evalJS[string](b, `document.getElementById("job-address").textContent`))
		require.Contains(t, evalJS[string](b, `document.querySelector("#sec-zoning_use .summary").textContent`), hostile)
		require.Equal(t, "undefined", evalJS[string](b, `typeof window.__xss`))
		require.Zero(t, evalJS[int](b, `document.querySelectorAll("#main script, #main img").length`), "markup became elements")
		b.do(chromedp.Click(chromedp.CSS("#back-link")))
		b.waitFor("the list", jobsListed(4), 20*time.Second)
		require.Equal(t, hostile, evalJS[string](b, `document.querySelector("#jobs-body tr a").textContent`))
		require.Zero(t, evalJS[int](b, `document.querySelectorAll("#main script, #main img").length`))
		require.Equal(t, "undefined", evalJS[string](b, `typeof window.__xss`))
	})

	t.Run("docs render offline and Try it succeeds", func(t *testing.T) {
		b.do(chromedp.Navigate(srv.base + "/docs"))
		b.waitFor("Swagger UI to render the operations", `document.querySelectorAll(".opblock").length >= 7`, 30*time.Second)
		b.do(chromedp.Click(chromedp.CSS("#operations-jobs-submit-job .opblock-summary-control")))
		b.waitFor("the operation to open", `document.querySelector("#operations-jobs-submit-job .try-out__btn") !== null`, 10*time.Second)
		b.do(chromedp.Click(chromedp.CSS("#operations-jobs-submit-job .try-out__btn")))
		b.waitFor("the example body", `(document.querySelector("#operations-jobs-submit-job textarea.body-param__text") || {}).value !== undefined`, 10*time.Second)
		body := evalJS[string](b, `document.querySelector("#operations-jobs-submit-job textarea.body-param__text").value`)
		var example map[string]any
		require.NoError(t, json.Unmarshal([]byte(body), &example), body)
		require.Equal(t, "fake", example["llm_provider"])
		b.do(chromedp.Click(chromedp.CSS("#operations-jobs-submit-job button.execute")))
		b.waitFor("the response", `document.querySelector("#operations-jobs-submit-job .live-responses-table tbody .response-col_status") !== null`, 20*time.Second)
		status := evalJS[string](b, `document.querySelector("#operations-jobs-submit-job .live-responses-table tbody .response-col_status").textContent`)
		require.Equal(t, "202", strings.TrimSpace(status))
		b.screenshot(artifacts, "docs.png")
	})

	b.requireOnlyOrigin(srv.base)
}

// With API keys on, the page asks for the key, keeps it in session
// storage and sends it only in the Authorization header; a running job
// is canceled from the page and shown canceled.
func TestBrowserCancelWithAPIKey(t *testing.T) {
	chromium(t) // skips (or fails under CI) before anything starts
	const key = "browser-test-key-7f3a"
	// A minute per provider call: the job is still running when canceled.
	srv := launchServe(t, "127.0.0.1", serveEnv(t, "sqlite:"+filepath.Join(t.TempDir(), "codecheck.db"),
		"CODECHECK_API_KEYS="+key, "CODECHECK_FAKE_LLM_LATENCY=1m"))
	artifacts := artifactsDir(t)
	b := newTab(t, 1280, 900)

	b.do(chromedp.Navigate(srv.base + "/"))
	b.waitFor("the key prompt", `!document.getElementById("auth").hidden`, 20*time.Second)
	require.Equal(t, "api-key", evalJS[string](b, `document.activeElement.id`), "focus moves to the key field")
	b.do(chromedp.SendKeys(chromedp.CSS("#api-key"), key+kb.Enter))
	b.waitFor("the job list", `!document.getElementById("jobs-empty").hidden`, 20*time.Second)
	require.Equal(t, key, evalJS[string](b, `sessionStorage.getItem("codecheck.apiKey")`))

	const address = "350 5th Ave, New York, NY 10118"
	b.submitThroughPage(srv.base, "fake", address,
		chromedp.Click(chromedp.CSS("#options summary")),
		chromedp.SendKeys(chromedp.CSS("#o-cost"), "0.5"),
		chromedp.Click(chromedp.CSS("#o-fresh")))
	require.Equal(t, "$0.5", evalJS[string](b, `document.getElementById("job-cap").textContent`))
	// The first section's started event arrives over the stream.
	b.waitFor("jurisdiction shown running", `document.querySelector('#sections li[data-key="jurisdiction"]').dataset.status === "running"`, 20*time.Second)
	require.Equal(t, "running", evalJS[string](b, `document.querySelector('#sections li[data-key="jurisdiction"] .badge').textContent`))
	require.Equal(t, "queued", evalJS[string](b, `document.querySelector('#sections li[data-key="zoning_use"] .badge').textContent`))
	// The report so far, while it runs.
	b.do(chromedp.Click(chromedp.CSS("#partial-button")))
	b.waitFor("the report so far", `!document.getElementById("report").hidden`, 20*time.Second)
	require.Equal(t, "running", evalJS[string](b, `document.getElementById("sec-jurisdiction").dataset.status`))
	b.do(chromedp.Click(chromedp.CSS("#cancel-button")))
	b.waitFor("the job shown canceled", `document.getElementById("job-status").dataset.status === "canceled"`, 20*time.Second)
	require.Equal(t, "canceled", evalJS[string](b, `document.getElementById("job-status").textContent`))
	require.True(t, evalJS[bool](b, `document.getElementById("cancel-button").hidden`))
	require.False(t, evalJS[bool](b, `document.getElementById("retry-button").hidden`), "a canceled job can be retried")
	b.waitFor("focus on retry, near the cancel button that went", `document.activeElement.id === "retry-button"`, 10*time.Second)
	require.True(t, evalJS[bool](b, `document.getElementById("partial-button").hidden`))
	b.waitFor("no section left running", `document.querySelectorAll('#sections li[data-status="running"]').length === 0`, 20*time.Second)
	require.Zero(t, evalJS[int](b, `document.querySelectorAll('#sections li[data-status="completed"]').length`))
	require.Equal(t, "canceled", evalJS[string](b, `document.querySelector('#sections li[data-key="jurisdiction"]').dataset.status`))
	b.screenshot(artifacts, "page-canceled.png")

	// Retry: the job runs again and the page follows its new attempt on
	// the same stream position; then cancel it for good.
	b.do(chromedp.Click(chromedp.CSS("#retry-button")))
	b.waitFor("the retried job running again", `document.querySelector('#sections li[data-key="jurisdiction"]').dataset.status === "running" && `+
		`document.getElementById("job-status").dataset.status === "processing"`, 20*time.Second)
	require.Equal(t, "2", evalJS[string](b, `document.getElementById("job-attempt").textContent`))
	require.True(t, evalJS[bool](b, `document.getElementById("retry-button").hidden`))
	b.do(chromedp.Click(chromedp.CSS("#cancel-button")))
	b.waitFor("the job shown canceled again", `document.getElementById("job-status").dataset.status === "canceled"`, 20*time.Second)

	// The API agrees, and the list shows it.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.base+"/jobs?limit=1", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var page struct {
		Jobs []struct {
			Status     string
			Reuse      bool
			MaxCostUSD float64 `json:"max_cost_usd"`
		}
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&page))
	resp.Body.Close()
	require.Equal(t, "canceled", page.Jobs[0].Status)
	require.False(t, page.Jobs[0].Reuse, "the page asked for fresh research")
	require.Equal(t, 0.5, page.Jobs[0].MaxCostUSD)
	b.do(chromedp.Click(chromedp.CSS("#back-link")))
	b.waitFor("the canceled job in the list", jobsListed(1), 20*time.Second)
	require.Equal(t, "canceled", evalJS[string](b, `document.querySelector("#jobs-body tr .badge").dataset.status`))

	b.requireOnlyOrigin(srv.base)
	b.requireNoRequestContains(key)
	require.NotContains(t, evalJS[string](b, `location.href`), key)
	require.Equal(t, fmt.Sprint(0), fmt.Sprint(evalJS[int](b, `document.cookie.length`)), "no cookie carries the key")
}

// A report researched on the web (a local fake of the Perplexity API that
// answers with San Jose's typed jurisdiction, its permit site and a
// lookalike site) shows what the simulated provider cannot: key facts
// found, the offices to contact, sources on the jurisdiction's domains
// marked official and the lookalike not, and the provider's cost.
func TestBrowserGroundedReport(t *testing.T) {
	chromium(t) // skips (or fails under CI) before anything starts
	fake := startFake(t, providerfake.Perplexity, jurisdictionScript(t))
	env, _ := providerEnv(t, fake, providerKey)
	srv := launchServe(t, "127.0.0.1", env)
	artifacts := artifactsDir(t)
	b := newTab(t, 1280, 900)

	b.submitThroughPage(srv.base, "perplexity", checkAddress)
	b.waitFor("all 13 sections done", allSectionsDone, time.Minute)
	b.waitFor("the report", `!document.getElementById("report").hidden`, 30*time.Second)

	require.Zero(t, evalJS[int](b, `document.querySelectorAll("#report .banner").length`), "nothing is simulated")
	facts := evalJS[string](b, `document.querySelector("#report .facts").textContent`)
	require.Contains(t, facts, "San Jose")
	require.Contains(t, facts, "467-20-078")
	offices := evalJS[string](b, `document.querySelector("#report .offices").textContent`)
	require.Contains(t, offices, "Planning, Building and Code Enforcement")
	require.Contains(t, offices, "408-535-3555")
	require.Equal(t, "https://www.sanjoseca.gov/your-government/departments/planning-building-code-enforcement",
		evalJS[string](b, `document.querySelector("#report .offices a").href`))

	official := `document.querySelector('#sec-dimensional_standards .sources li[data-official="true"]')`
	require.Equal(t, sjPermitsPage, evalJS[string](b, official+`.querySelector("a").href`))
	require.Equal(t, "official", evalJS[string](b, official+`.querySelector(".badge.official").textContent`))
	// zoning_use found only the lookalike, on the open web.
	lookalike := `document.querySelector('#sec-zoning_use .sources li[data-official="false"]')`
	require.Equal(t, cheapPermitsPage, evalJS[string](b, lookalike+`.querySelector("a").href`))
	require.Zero(t, evalJS[int](b, lookalike+`.querySelectorAll(".badge.official").length`))
	require.True(t, strings.HasPrefix(evalJS[string](b, `document.getElementById("job-cost").textContent`), "$"),
		"the provider's cost is shown")
	require.Contains(t, evalJS[string](b, `document.querySelector("#sec-dimensional_standards .meta").textContent`), "Confidence")

	b.do(chromedp.Evaluate[chromedp.Void](`document.getElementById("report").scrollIntoView()`))
	b.screenshot(artifacts, "page-grounded-report.png")
	b.requireOnlyOrigin(srv.base)
}

// A dropped event stream is resumed: the page reaches the server through a
// proxy that cuts every connection once the first section is done; the
// page reconnects with the Last-Event-ID header and shows the job to its
// end.
func TestBrowserResumesAfterADroppedStream(t *testing.T) {
	chromium(t) // skips (or fails under CI) before anything starts
	srv := launchServe(t, "127.0.0.1", serveEnv(t, "sqlite:"+filepath.Join(t.TempDir(), "codecheck.db"),
		"CODECHECK_FAKE_LLM_LATENCY=1500ms"))
	target, err := url.Parse(srv.base)
	require.NoError(t, err)
	upstream := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	var resumedFrom []string // the Last-Event-ID of each stream request
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/events") {
			mu.Lock()
			resumedFrom = append(resumedFrom, r.Header.Get("Last-Event-ID"))
			mu.Unlock()
		}
		upstream.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	b := newTab(t, 1280, 900)

	b.submitThroughPage(proxy.URL, "fake", "1 Dr Carlton B Goodlett Pl, San Francisco, CA 94102")
	b.waitFor("jurisdiction done", `document.querySelector('#sections li[data-key="jurisdiction"]').dataset.status === "completed"`, time.Minute)
	proxy.CloseClientConnections()
	b.waitFor("all 13 sections done", allSectionsDone, time.Minute)
	b.waitFor("the report", `!document.getElementById("report").hidden`, 30*time.Second)

	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, len(resumedFrom), 2, "the page opened the stream again")
	require.Empty(t, resumedFrom[0], "the first stream starts at the beginning")
	id, err := strconv.Atoi(resumedFrom[1])
	require.NoError(t, err, "the second stream resumes with Last-Event-ID, got %q", resumedFrom[1])
	require.Positive(t, id)
	b.requireOnlyOrigin(proxy.URL)
}
