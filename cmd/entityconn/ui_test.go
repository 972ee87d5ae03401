package main

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The browser tests drive Debian's chromium through chromedp. They find every control by the
// accessible names of contract §6 (label texts, button texts, tab names, role="alert"), as a
// user or an outside test would, never by the page's ids or classes.

// chromiumPath is Debian's chromium; ENTITYCONN_CHROMIUM names another build of it.
const chromiumPath = "/usr/bin/chromium"

const (
	shareTo   = "Share To (Outbound)"
	shareFrom = "Share From (Inbound)"
	// stepTimeout bounds one step of the scenario (a click, a wait, a sign-in).
	stepTimeout = 15 * time.Second
	// liveTimeout bounds how long a change made elsewhere (another browser, the API) may
	// take to appear without a reload. The contract says within one second; the slack is for
	// a loaded two-core CI machine running the race detector. The test logs the time taken.
	liveTimeout = 5 * time.Second
)

// chromium returns the browser to run, or skips the test when there is none, unless it runs
// under CI (env CI set), where a missing browser is a failure.
func chromium(t *testing.T) string {
	t.Helper()
	exe := cmp.Or(os.Getenv("ENTITYCONN_CHROMIUM"), chromiumPath)
	if _, err := os.Stat(exe); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("browser test: %v; CI is set, so it must run: install chromium with `apt-get install -y chromium`", err)
		}
		t.Skipf("browser test skipped: %s not found. To run it: `apt-get install -y chromium` (as root), then `go test -race -count=1 -run UI ./cmd/entityconn`; with env CI set it fails instead of skipping", exe)
	}
	return exe
}

// xq quotes s as an XPath 1.0 string literal.
func xq(s string) string {
	if !strings.Contains(s, "'") {
		return "'" + s + "'"
	}
	return `"` + s + `"`
}

// Selectors by accessible name and role.

// labelled is the control whose <label for> reads text.
func labelled(text string) string {
	return fmt.Sprintf(`//*[@id=//label[normalize-space(.)=%s]/@for]`, xq(text))
}

// button is a button named name, anywhere.
func button(name string) string {
	return fmt.Sprintf(`//button[normalize-space(.)=%s]`, xq(name))
}

// dialogButton is a button named name in the open dialog.
func dialogButton(name string) string {
	return `//dialog[@open]` + button(name)
}

func tab(name string) string {
	return fmt.Sprintf(`//*[@role='tab'][normalize-space(.)=%s]`, xq(name))
}

// panel is the tabpanel that the tab named tabName controls.
func panel(tabName string) string {
	return fmt.Sprintf(`//*[@role='tabpanel'][@id=%s/@aria-controls]`, tab(tabName))
}

// row is the row of the counterpart entity id (a cell reads exactly id) in a tab's panel.
func row(tabName, id string) string {
	return fmt.Sprintf(`%s//tr[*[normalize-space(.)=%s]]`, panel(tabName), xq(id))
}

// rowWithStatus is that row while a cell reads exactly status.
func rowWithStatus(tabName, id, status string) string {
	return fmt.Sprintf(`%s[*[normalize-space(.)=%s]]`, row(tabName, id), xq(status))
}

func rowButton(tabName, id, name string) string {
	return row(tabName, id) + button(name)
}

func alertWith(text string) string {
	return fmt.Sprintf(`//*[@role='alert'][contains(normalize-space(.), %s)]`, xq(text))
}

// jsLabelled is a JavaScript expression for the control whose <label for> reads text.
func jsLabelled(text string) string {
	return fmt.Sprintf(`document.getElementById([...document.querySelectorAll('label')].find((l) => l.textContent.trim() === %q).htmlFor)`, text)
}

// browser is one chromium, with its own profile, on the page.
type browser struct {
	t       *testing.T
	name    string
	ctx     context.Context
	console *syncBuffer
	output  *syncBuffer
}

// newBrowser starts a headless chromium with a fresh profile. When the test fails, a
// screenshot, the page's HTML and its console are saved to a directory that is logged.
func newBrowser(t *testing.T, parent context.Context, exe, name string) *browser {
	t.Helper()
	b := &browser{t: t, name: name, console: &syncBuffer{}, output: &syncBuffer{}}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(parent,
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.CombinedOutput(b.output),
	)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first Do starts the browser and ties it to ctx, which has no step deadline.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("%s: starting %s: %v\n%s", name, exe, err, b.output)
	}
	b.ctx = ctx
	msgs := chromedp.Console(ctx) // subscribed from here on
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			fmt.Fprintf(b.console, "%s %s: %s\n", m.Time.Format("15:04:05.000"), m.Type, m.Text)
		}
	}()
	t.Cleanup(b.saveFailure)
	b.do("set the window size", chromedp.EmulateViewport(1100, 760))
	return b
}

// saveFailure keeps what the browser showed when the test failed.
func (b *browser) saveFailure() {
	if !b.t.Failed() {
		return
	}
	dir, err := os.MkdirTemp("", "entityconn-ui-failure-"+b.name+"-")
	if err != nil {
		b.t.Logf("%s: no failure directory: %v", b.name, err)
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
		_ = os.WriteFile(filepath.Join(dir, "screenshot.png"), png, 0o644)
	}
	if html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html"))); err == nil {
		_ = os.WriteFile(filepath.Join(dir, "page.html"), []byte(html), 0o644)
	}
	_ = os.WriteFile(filepath.Join(dir, "console.txt"), []byte(b.console.String()), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "chromium.txt"), []byte(b.output.String()), 0o644)
	b.t.Logf("%s: the page at the failure (screenshot.png, page.html, console.txt) is in %s", b.name, dir)
}

// do runs steps within stepTimeout, or fails the test saying what did not happen.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	b.within(stepTimeout, what, steps...)
}

func (b *browser) within(d time.Duration, what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, d)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %s: %v", b.name, what, err)
	}
}

// live waits for a change made elsewhere to show without a reload, and logs how long it took.
func (b *browser) live(what, sel string) {
	b.t.Helper()
	start := time.Now()
	b.within(liveTimeout, what+" (live, without reload)", wait(sel))
	b.t.Logf("%s: %s after %v", b.name, what, time.Since(start).Round(time.Millisecond))
}

// wait waits until sel is visible; polls are spaced to spare the CPU of a small machine.
func wait(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(sel, chromedp.RetryInterval(20*time.Millisecond))
}

func click(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Click(sel, chromedp.RetryInterval(20*time.Millisecond))
}

// typeInto replaces the value of the control labelled label by typing text, as a user does:
// select all, delete, type. (chromedp.Clear sets the value attribute, which does not empty a
// field that has been typed in.)
func typeInto(label, text string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Focus(labelled(label)),
		chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
		chromedp.KeyEvent(kb.Backspace),
		chromedp.SendKeys(labelled(label), text),
	)
}

func (b *browser) open(base string) {
	b.t.Helper()
	b.do("open the page", chromedp.Navigate(base+"/"), wait(`//h1[normalize-space(.)='Manage Entity Connections']`))
	title, err := chromedp.Run(b.ctx, chromedp.Title())
	if err != nil || title != "Manage Entity Connections" {
		b.t.Fatalf("%s: title = %q (%v), want Manage Entity Connections", b.name, title, err)
	}
}

func (b *browser) signIn(client, secret string) {
	b.t.Helper()
	b.do("sign in as "+client,
		wait(labelled("Client ID")),
		typeInto("Client ID", client),
		typeInto("Client secret", secret),
		click(button("Sign in")),
	)
}

// signedIn signs in and waits for the signed-in page.
func (b *browser) signedIn(client string) {
	b.t.Helper()
	b.signIn(client, client+"-secret")
	b.do(client+" is signed in", wait(button("Sign out")), wait(labelled("Entity")))
}

func (b *browser) signOut() {
	b.t.Helper()
	b.do("sign out", click(button("Sign out")), wait(labelled("Client ID")), chromedp.WaitNotVisible(button("Sign out")))
}

// chooseEntity picks the acting entity in the select labelled Entity, once it offers it (just
// after a sign-in the options are still loading).
func (b *browser) chooseEntity(id string) {
	b.t.Helper()
	b.do("choose entity "+id,
		chromedp.WaitReady(labelled("Entity")+fmt.Sprintf(`/option[@value=%s]`, xq(id)), chromedp.RetryInterval(20*time.Millisecond)),
		chromedp.SetValue(labelled("Entity"), id),
		chromedp.Evaluate[chromedp.Void](jsLabelled("Entity")+`.dispatchEvent(new Event('change', {bubbles: true}))`),
	)
	if got, err := chromedp.Run(b.ctx, chromedp.Value(labelled("Entity"))); err != nil || got != id {
		b.t.Fatalf("%s: entity = %q (%v), want %q", b.name, got, err, id)
	}
}

func (b *browser) showTab(name string) {
	b.t.Helper()
	b.do("show the tab "+name,
		click(tab(name)),
		wait(fmt.Sprintf(`%s[@aria-selected='true']`, tab(name))),
		wait(panel(name)),
	)
}

// focusSteadily focuses the tab named name and waits until it has kept the focus over three
// polls 50 ms apart: a dialog that has just closed hands the focus back to the button that
// opened it a moment later, which would take it from a tab focused at once.
func focusSteadily(name string) chromedp.Action[chromedp.Void] {
	expr := fmt.Sprintf(`(() => {
		const t = [...document.querySelectorAll('[role=tab]')].find(e => e.textContent.trim() === %q);
		window.__steadyFocus = (t && document.activeElement === t) ? (window.__steadyFocus || 0) + 1 : 0;
		if (t) t.focus();
		return window.__steadyFocus >= 3;
	})()`, name)
	poll := chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond))
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := poll(ctx, t)
		return chromedp.Void{}, err
	}
}

// eval runs a JavaScript expression and returns its value.
func eval[T any](b *browser, what, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("%s: %s: %v", b.name, what, err)
	}
	return v
}

// attr returns an attribute of the first element sel selects, and whether it has it.
func (b *browser) attr(sel, name string) (string, bool) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	r, err := chromedp.Run(ctx, chromedp.AttributeValue(sel, name))
	if err != nil {
		b.t.Fatalf("%s: attribute %s of %s: %v", b.name, name, sel, err)
	}
	return r.Value, r.Exists
}

// markPage leaves a value in the page's window; checkNotReloaded finds it there if the page
// was never reloaded since.
func (b *browser) markPage() {
	b.t.Helper()
	eval[chromedp.Void](b, "mark the page", `window.entityconnTestMark = 'not reloaded'`)
}

func (b *browser) checkNotReloaded() {
	b.t.Helper()
	if got := eval[string](b, "read the mark", `String(window.entityconnTestMark)`); got != "not reloaded" {
		b.t.Errorf("%s: the page was reloaded (mark = %q): changes must show without a reload", b.name, got)
	}
}

// checkNoActions checks that every action button in the tables but History is disabled with
// a reason in its title.
func (b *browser) checkNoActions(where string) {
	b.t.Helper()
	bad := eval[[]string](b, "read the actions", `[...document.querySelectorAll('[role=tabpanel] tr button')]
		.filter((btn) => btn.textContent.trim() !== 'History' && (!btn.disabled || !btn.title))
		.map((btn) => btn.textContent.trim() + ' for ' + btn.closest('tr').textContent.trim())`)
	if len(bad) > 0 {
		b.t.Errorf("%s: %s: enabled (or unexplained) actions for a user who is not an admin: %q", b.name, where, bad)
	}
}

// checkConsole fails on uncaught exceptions and on anything the Content-Security-Policy blocked.
func (b *browser) checkConsole() {
	b.t.Helper()
	for _, line := range strings.Split(b.console.String(), "\n") {
		if strings.Contains(line, " exception: ") || strings.Contains(line, "Content Security Policy") {
			b.t.Errorf("%s: console: %s", b.name, line)
		}
	}
}

// screenshot saves the viewport as name in the screenshot directory and returns the path.
func (b *browser) screenshot(name string) string {
	b.t.Helper()
	dir := os.Getenv("ENTITYCONN_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "entityconn-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("%s: screenshot: %v", b.name, err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", p)
	return p
}

// pausedRequests are the page's requests for the change stream, each held by the browser
// until the test answers it.
type pausedRequests struct {
	b  *browser
	ch chan *fetch.EventRequestPaused
}

// interceptStream holds every request of the page for the change stream until the test
// answers it (fetch.FailRequest, fetch.ContinueRequest).
func (b *browser) interceptStream() *pausedRequests {
	b.t.Helper()
	p := &pausedRequests{b: b, ch: make(chan *fetch.EventRequestPaused, 16)}
	err := chromedp.Listen(b.ctx, func(ev any) {
		if ev, ok := ev.(*fetch.EventRequestPaused); ok {
			select {
			case p.ch <- ev:
			default: // more than the test will ever answer
			}
		}
	})
	if err != nil {
		b.t.Fatalf("%s: listen: %v", b.name, err)
	}
	b.do("intercept the change stream", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*/v1/entity-connections/changes*"}}})
		return err
	}))
	return p
}

// next returns the next held request, waiting at most stepTimeout.
func (p *pausedRequests) next(t *testing.T) *fetch.EventRequestPaused {
	t.Helper()
	select {
	case ev := <-p.ch:
		return ev
	case <-time.After(stepTimeout):
		t.Fatalf("%s: no request for the change stream within %v", p.b.name, stepTimeout)
		return nil
	}
}

// TestUIManageEntityConnections runs the product page's scenario (a source entity's admin
// requests a connection, the target's admin sees it live and accepts it) in two real
// browsers, then the disconnect and deny paths, history, keyboard tabs, a user who is not an
// admin, API errors and the end of a session.
func TestUIManageEntityConnections(t *testing.T) {
	t.Parallel()
	exe := chromium(t)
	s := startService(t)

	resp, err := http.Get(s.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d, want 200: the page is not served; serve.go must pass UI: webui.Handler() in httpapi.Config", resp.StatusCode)
	}

	// The browsers live no longer than this, whatever happens.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	root := newBrowser(t, ctx, exe, "root")
	other := newBrowser(t, ctx, exe, "other") // eve, then sam, then viv

	// A wrong secret: the API's 401 reason in role="alert", no session.
	root.open(s.base)
	root.signIn("root", "wrong-secret")
	root.do("the sign-in error shows", wait(alertWith("invalid client credentials")))
	root.signedIn("root")
	if got := eval[string](root, "read the entities", `[...`+jsLabelled("Entity")+`.options].map((o) => o.value + '=' + o.text).join(', ')`); got != "global=ACME Global, eu=ACME Europe, us=ACME Americas, apac=ACME Asia Pacific" {
		t.Errorf("root: Entity options = %q, want every entity of root, value = id, text = name", got)
	}
	root.chooseEntity("global")
	root.showTab(shareTo)
	for _, id := range []string{"eu", "us", "apac"} {
		root.do("row "+id+" is not connected", wait(rowWithStatus(shareTo, id, "Not connected")), wait(rowButton(shareTo, id, "Request Connection")))
		if _, disabled := root.attr(rowButton(shareTo, id, "Request Connection"), "disabled"); disabled {
			t.Errorf("root: Request Connection to %s is disabled for an admin of global", id)
		}
	}
	root.markPage()

	other.open(s.base)
	other.signedIn("eve")
	other.showTab(shareFrom)
	other.markPage()

	// global requests eu; eve sees it without reload and accepts; both see Connected.
	root.do("request a connection to eu", click(rowButton(shareTo, "eu", "Request Connection")), wait(rowWithStatus(shareTo, "eu", "Pending")), wait(rowButton(shareTo, "eu", "Cancel")))
	other.live("eve sees the pending request from global", rowWithStatus(shareFrom, "global", "Pending"))
	other.do("eve accepts", click(rowButton(shareFrom, "global", "Accept")), wait(rowWithStatus(shareFrom, "global", "Connected")))
	root.live("root sees eu connected", rowWithStatus(shareTo, "eu", "Connected"))
	root.do("Disconnect is offered", wait(rowButton(shareTo, "eu", "Disconnect")))
	shareFromPNG := other.screenshot("share-from.png")

	// Disconnect from the target's side, with a reason; root sees it and may request again.
	other.do("eve disconnects",
		click(rowButton(shareFrom, "global", "Disconnect")),
		wait(labelled("Reason (optional)")),
		chromedp.SendKeys(labelled("Reason (optional)"), "contract ended"),
		click(dialogButton("Disconnect connection")),
		wait(rowWithStatus(shareFrom, "global", "Disconnected")),
	)
	root.live("root sees eu disconnected", rowWithStatus(shareTo, "eu", "Disconnected"))
	root.do("Request Connection is offered again", wait(rowButton(shareTo, "eu", "Request Connection")))
	other.checkNotReloaded()

	// The deny path: sam (admin of us) denies global's request with a reason.
	other.signOut()
	other.signedIn("sam")
	other.showTab(shareFrom)
	root.do("request a connection to us", click(rowButton(shareTo, "us", "Request Connection")), wait(rowWithStatus(shareTo, "us", "Pending")))
	other.live("sam sees the pending request from global", rowWithStatus(shareFrom, "global", "Pending"))
	other.do("sam denies with a reason",
		click(rowButton(shareFrom, "global", "Deny")),
		wait(labelled("Reason (optional)")),
		chromedp.SendKeys(labelled("Reason (optional)"), "not this quarter"),
		click(dialogButton("Deny connection")),
		wait(rowWithStatus(shareFrom, "global", "Denied")),
	)
	root.live("root sees us denied", rowWithStatus(shareTo, "us", "Denied"))

	// History: who did what, with the reason; closed with Escape, then with Close.
	root.do("the history of the denied request shows the reason",
		click(rowButton(shareTo, "us", "History")),
		wait(`//dialog[@open]//tr[*[normalize-space(.)='Denied']][*[normalize-space(.)='sam']][*[normalize-space(.)='not this quarter']]`),
		wait(`//dialog[@open]//tr[*[normalize-space(.)='Requested']][*[normalize-space(.)='root']]`),
		chromedp.KeyEvent(kb.Escape),
		chromedp.WaitNotPresent(`//dialog[@open]`),
	)
	root.do("the history of the disconnected connection shows eve's reason",
		click(rowButton(shareTo, "eu", "History")),
		wait(`//dialog[@open]//tr[*[normalize-space(.)='Disconnected']][*[normalize-space(.)='eve']][*[normalize-space(.)='contract ended']]`),
		click(dialogButton("Close")),
		chromedp.WaitNotPresent(`//dialog[@open]`),
	)
	// A dialog's close event comes after it has closed, as a task of its own: a History
	// opened before it arrives (closed and another opened at once) is still the open one and
	// shows its rows, not "Loading…" for ever.
	eu := `//dialog[@open]//tr[*[normalize-space(.)='Disconnected']][*[normalize-space(.)='eve']][*[normalize-space(.)='contract ended']]`
	root.do("a History opened as the last one closes shows its rows",
		click(rowButton(shareTo, "us", "History")),
		wait(`//dialog[@open]//tr[*[normalize-space(.)='Denied']]`),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
			document.querySelector('dialog[open]').close();
			document.evaluate(%q, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue.click();
		})()`, rowButton(shareTo, "eu", "History"))),
		wait(eu),
		click(dialogButton("Close")),
		chromedp.WaitNotPresent(`//dialog[@open]`),
	)

	// The tabs work from the keyboard.
	root.do("arrow keys move between the tabs",
		focusSteadily(shareTo),
		chromedp.KeyEvent(kb.ArrowRight),
		wait(tab(shareFrom)+`[@aria-selected='true']`),
		wait(panel(shareFrom)),
		chromedp.WaitNotVisible(panel(shareTo)),
		chromedp.KeyEvent(kb.ArrowLeft),
		wait(tab(shareTo)+`[@aria-selected='true']`),
		wait(panel(shareTo)),
	)
	if focused := eval[string](root, "read the focus", `document.activeElement.textContent.trim()`); focused != shareTo {
		t.Errorf("root: after the arrow keys the focus is on %q, want the tab %q", focused, shareTo)
	}
	root.checkNotReloaded()
	shareToPNG := root.screenshot("share-to.png")

	// On a narrow window the rows reflow: nothing is wider than the window.
	root.do("narrow the window", chromedp.EmulateViewport(375, 760), wait(rowButton(shareTo, "eu", "History")))
	if w := eval[[]int](root, "measure the page", `[document.documentElement.scrollWidth, window.innerWidth]`); len(w) != 2 || w[0] > w[1] {
		t.Errorf("root: at 375px the page is %v px wide (scrollWidth, innerWidth): it must reflow", w)
	}
	narrowPNG := root.screenshot("share-to-narrow.png")
	root.do("widen the window", chromedp.EmulateViewport(1100, 760))

	// viv is a user, not an admin: everything but History is disabled, with the reason.
	other.signOut()
	other.signedIn("viv")
	other.chooseEntity("global")
	other.showTab(shareTo)
	other.do("viv sees global's connection to eu", wait(rowWithStatus(shareTo, "eu", "Disconnected")), wait(rowButton(shareTo, "eu", "History")))
	if title, disabled := other.attr(rowButton(shareTo, "eu", "Request Connection"), "disabled"); !disabled {
		t.Errorf("viv: Request Connection is enabled (title %q)", title)
	}
	if title, _ := other.attr(rowButton(shareTo, "eu", "Request Connection"), "title"); title != "You are not an admin of ACME Global" {
		t.Errorf("viv: Request Connection title = %q, want You are not an admin of ACME Global", title)
	}
	other.checkNoActions("Share To of global")
	other.chooseEntity("eu")
	other.showTab(shareFrom)
	other.do("viv sees eu's inbound connection from global", wait(rowWithStatus(shareFrom, "global", "Disconnected")))
	other.showTab(shareTo)
	other.do("viv sees eu's Share To", wait(rowWithStatus(shareTo, "global", "Not connected")))
	other.checkNoActions("eu")

	// A dropped change stream and a stale button. The browser's requests for the stream are
	// intercepted: the first fails (the page says so and retries with a backoff), the retry
	// is held. Meanwhile the API changes the state, so the page's button is stale: the click
	// is refused, the API's reason shows in role="alert" and the row shows the truth. Then the
	// held retry goes through and changes arrive live again.
	paused := root.interceptStream()
	root.do("reload with the change stream intercepted", chromedp.Reload(), wait(rowWithStatus(shareTo, "apac", "Not connected")))
	first := paused.next(t)
	root.do("the first stream request fails",
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, fetch.FailRequest, fetch.FailRequestParams{RequestID: first.RequestID, ErrorReason: network.ErrorReasonConnectionReset})
			return err
		}),
		wait(`//*[@role='status'][contains(., 'Live updates interrupted')]`),
	)
	retry := paused.next(t)
	must(t, s.call("POST", "/v1/entity-connections", s.token("root"), "global", `{"targetEntityId":"apac"}`), 200)
	root.do("a stale Request Connection shows the API's refusal",
		click(rowButton(shareTo, "apac", "Request Connection")),
		wait(alertWith("Could not request a connection to ACME Asia Pacific")),
		wait(alertWith("(HTTP 409)")),
		wait(rowWithStatus(shareTo, "apac", "Pending")),
	)
	root.do("the held stream request goes through",
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			if _, err := cdp.Call(ctx, tg, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: retry.RequestID}); err != nil {
				return err
			}
			_, err := cdp.Call(ctx, tg, fetch.Disable, cdp.Empty{})
			return err
		}),
		wait(`//*[@role='status'][starts-with(normalize-space(.), 'Live:')]`),
	)
	l := must(t, s.call("GET", "/v1/entity-connections?type=outbound&status=Pending", s.token("root"), "global", ""), 200)
	apac := ""
	for _, c := range l.Body["entityConnections"].([]any) {
		if c := c.(map[string]any); c["targetEntityId"] == "apac" {
			apac = str(c["id"])
		}
	}
	must(t, s.call("PUT", "/v1/entity-connections/"+apac+"/cancel", s.token("root"), "global", ""), 200)
	root.live("after reconnecting, root sees the request to apac cancelled through the API", rowWithStatus(shareTo, "apac", "Cancelled"))

	// A session that ends (here: a token the service does not accept) asks to sign in again.
	other.do("a rejected token ends the session",
		chromedp.Evaluate[chromedp.Void](`sessionStorage.setItem('entityconn.session', JSON.stringify({token: 'not-a-token', expiresAt: Date.now() + 60000, client: 'viv', user: 'viv'}))`),
		chromedp.Reload(),
		wait(alertWith("Your session has ended")),
		wait(labelled("Client ID")),
		chromedp.WaitNotVisible(button("Sign out")),
	)

	root.checkConsole()
	other.checkConsole()
	t.Logf("screenshots: %s, %s and %s", shareToPNG, shareFromPNG, narrowPNG)
}
