package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// The as-of view of contract §8 on the page: "View as of…" shows both tabs, the shared
// objects and the History as they were at an instant; "Now" goes back to the present.

const asOfLabel = "View as of…"

// The browser runs in India's time zone, not UTC, so that a page that sent the field's local
// time as if it were UTC would ask for the wrong instant (5 h 30 min off) and fail the test.
// India has no daylight saving time: the fixed zone below is exact.
const browserZoneID = "Asia/Kolkata"

var browserZone = time.FixedZone("IST", 5*3600+30*60)

// wholeSecond waits until just past the next whole second of the clock and returns that
// second: whatever was done before the call happened before it, whatever is done after it
// happens after. The page's field is a datetime-local with step="1", which takes seconds
// (with the default step some browsers take minutes only); instants on whole seconds need
// no fraction, which browsers handle differently, and cost about a second each rather than
// a minute.
func wholeSecond() time.Time {
	at := time.Now().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(at) + 50*time.Millisecond)
	return at
}

// clock writes t as the page does: "2 Jan 2006 15:04", with ":05" when the seconds are not 0.
func clock(t time.Time) string {
	s := t.Format("2 Jan 2006 15:04")
	if t.Second() != 0 {
		s += t.Format(":05")
	}
	return s
}

// utc is t as the page writes an instant in UTC.
func utc(t time.Time) string {
	return clock(t.UTC()) + " UTC"
}

// banner is the page's notice that it shows the past, as of at.
func banner(at time.Time) string {
	return fmt.Sprintf(`//*[@role='status'][starts-with(normalize-space(.), %s)]`, xq("Viewing as of "+utc(at)))
}

// fieldValue is the value of a datetime-local field for t in the browser's local time, as the
// browser writes it: without the seconds when they are 0 (chromedp.SetValue reads the value
// back and fails if it differs).
func fieldValue(t time.Time) string {
	t = t.In(browserZone)
	if t.Second() == 0 {
		return t.Format("2006-01-02T15:04")
	}
	return t.Format("2006-01-02T15:04:05")
}

// viewAsOf enters at, in the browser's local time, into "View as of…" and chooses View.
func (b *browser) viewAsOf(at time.Time) {
	b.t.Helper()
	b.do("view as of "+utc(at),
		chromedp.SetValue(labelled(asOfLabel), fieldValue(at)),
		click(button("View")),
		wait(banner(at)),
	)
	b.loaded()
}

// loaded waits until the lists are read: until then, the rows are those of no connection.
func (b *browser) loaded() {
	b.t.Helper()
	b.do("the lists are read", until(`[...document.querySelectorAll('[role=tabpanel]')].every((p) => p.getAttribute('aria-busy') === 'false')`))
}

// pastActions returns the buttons of the tables, but History, that are enabled or whose
// title does not say that the page shows the past as of at.
func (b *browser) pastActions(at time.Time) []string {
	b.t.Helper()
	return eval[[]string](b, "read the actions", fmt.Sprintf(`[...document.querySelectorAll('[role=tabpanel] tr button')]
		.filter((btn) => btn.textContent.trim() !== 'History' && (!btn.disabled || btn.title !== %q))
		.map((btn) => btn.textContent.trim() + ' for ' + btn.closest('tr').cells[1].textContent.trim() + ' (title ' + btn.title + ')')`,
		"Viewing as of "+utc(at)+": actions are disabled (choose Now to act)"))
}

// history opens the History of the row of id in tabName, waits until it says the connection
// is (or, as of the instant shown, was) status, returns what each of its items says and
// closes it.
func (b *browser) history(tabName, id, status string, past bool) []string {
	b.t.Helper()
	says := "is " + status + "."
	if past {
		says = "was " + status + " as of"
	}
	b.do("open the History of "+id+" ("+says+")",
		click(rowButton(tabName, id, "History")),
		wait(openDialog+fmt.Sprintf(`//p[contains(normalize-space(.), %s)]`, xq(says))),
	)
	items := eval[[]string](b, "read the History", `[...document.querySelectorAll('dialog[open] tbody tr')].map((tr) => tr.cells[1].textContent.trim())`)
	b.do("close the History", click(dialogButton("Close")), chromedp.WaitNotPresent(openDialog))
	return items
}

// sharedIn returns the objects that the row of id in tabName lists, as "Type ID".
func (b *browser) sharedIn(tabName, id string) []string {
	b.t.Helper()
	return eval[[]string](b, "read the shared objects of "+id, fmt.Sprintf(`(() => {
		const row = document.evaluate(%q, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue;
		return row ? [...row.querySelectorAll('.objects li .object')].map((o) => o.textContent.trim()) : ['no row'];
	})()`, row(tabName, id)))
}

// TestUIAsOf runs the as-of view of contract §8 on the page. Through the API, global's
// connection to eu goes Pending, Connected, shares Product P-42 and is Disconnected, with an
// instant recorded between the steps. At each instant the page shows, on global's Share To
// and on eu's Share From, the status of then, the objects shared then and the History up to
// then, with every command disabled and the reason in its title, under a banner; a change
// made meanwhile does not show in the past. Now brings back the present, its buttons and
// live changes. A time in the future is refused by the page, and, when the page's clock is
// ahead of the service's, by the API, whose reason shows in role="alert".
func TestUIAsOf(t *testing.T) {
	t.Parallel()
	exe := chromium(t)
	s := startService(t)
	rootTok, eveTok := s.token("root"), s.token("eve")

	before := wholeSecond()
	id := str(must(t, s.call("POST", "/v1/entity-connections", rootTok, "global", `{"targetEntityId":"eu"}`), http.StatusOK).Body["id"])
	pending := wholeSecond()
	must(t, s.call("PUT", "/v1/entity-connections/"+id+"/accept", eveTok, "eu", ""), http.StatusOK)
	connected := wholeSecond()
	must(t, s.call("PUT", "/v1/shared-objects/Product/P-42/share", rootTok, "global", `{"toEntityIds":["eu"]}`), http.StatusOK)
	shared := wholeSecond()
	must(t, s.call("PUT", "/v1/entity-connections/"+id+"/disconnect", eveTok, "eu", `{"reason":"contract ended"}`), http.StatusOK)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	b := newBrowser(t, ctx, exe, "root")
	b.do("set the browser's time zone to "+browserZoneID, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: browserZoneID})
		return err
	}))
	b.open(s.base)
	if off := eval[int](b, "read the time zone's offset", `new Date().getTimezoneOffset()`); off != -330 {
		t.Fatalf("the browser's time zone is %d min behind UTC, want -330 (%s)", off, browserZoneID)
	}
	b.signedIn("root")
	b.chooseEntity("global")
	b.showTab(shareTo)
	b.do("global's connection to eu is Disconnected now",
		wait(rowWithStatus(shareTo, "eu", "Disconnected")),
		wait(rowButton(shareTo, "eu", "Request Connection")),
		wait(labelled(asOfLabel)),
		chromedp.WaitNotPresent(banner(pending)),
	)
	if typ, _ := b.attr(labelled(asOfLabel), "type"); typ != "datetime-local" {
		t.Errorf("the field %s is of type %q, want datetime-local", asOfLabel, typ)
	}
	b.markPage()

	cases := []struct {
		name    string
		at      time.Time
		status  string   // of the row, then
		actions []string // the row's buttons, then
		history []string // what the History said, then (nil: no History)
		objects []string
	}{
		{"before the request", before, "Not connected", []string{"Request Connection"}, nil, []string{}},
		{"requested", pending, "Pending", []string{"Cancel", "History"}, []string{"Requested"}, []string{}},
		{"accepted", connected, "Connected", []string{"Share Object", "Disconnect", "History"}, []string{"Requested", "Accepted"}, []string{}},
		{"shared", shared, "Connected", []string{"Share Object", "Disconnect", "History"}, []string{"Requested", "Accepted", "Shared Product P-42"}, []string{"Product P-42"}},
	}
	for _, c := range cases {
		b.viewAsOf(c.at)
		b.do(c.name+": global's row of eu on Share To", wait(rowWithStatus(shareTo, "eu", c.status)))
		if len(c.objects) > 0 {
			b.do(c.name+": the shared objects show", wait(sharedObject(shareTo, "eu", c.objects[0])+button("Unshare")))
		}
		if got := eval[[]string](b, "read the row's buttons", fmt.Sprintf(`[...document.evaluate(%q, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue.querySelectorAll('td[data-label=Actions] button')].map((b) => b.textContent.trim())`,
			row(shareTo, "eu"))); fmt.Sprint(got) != fmt.Sprint(c.actions) {
			t.Errorf("%s: the row of eu offers %q, want %q", c.name, got, c.actions)
		}
		if got := b.sharedIn(shareTo, "eu"); fmt.Sprint(got) != fmt.Sprint(c.objects) {
			t.Errorf("%s: Share To lists %q shared with eu, want %q", c.name, got, c.objects)
		}
		if bad := b.pastActions(c.at); len(bad) > 0 {
			t.Errorf("%s: buttons enabled, or without the reason, in the past: %q", c.name, bad)
		}
		if title, disabled := b.attr(button("Sharing Settings"), "disabled"); !disabled {
			t.Errorf("%s: Sharing Settings is enabled in the past (title %q)", c.name, title)
		}
		if c.history != nil {
			if got := b.history(shareTo, "eu", c.status, true); fmt.Sprint(got) != fmt.Sprint(c.history) {
				t.Errorf("%s: the History as of then says %q, want %q", c.name, got, c.history)
			}
		}

		// The other tab, of the other entity: the past stays when the entity changes.
		b.chooseEntity("eu")
		b.showTab(shareFrom)
		b.do(c.name+": the banner stays on eu", wait(banner(c.at)))
		b.loaded()
		if c.history == nil {
			b.do(c.name+": eu had no inbound connection", wait(panel(shareFrom)+`//*[starts-with(normalize-space(.), 'No entity had requested a connection to ACME Europe as of')]`))
		} else {
			b.do(c.name+": eu's row of global on Share From", wait(rowWithStatus(shareFrom, "global", c.status)))
			if len(c.objects) > 0 {
				b.do(c.name+": the shared objects show", wait(sharedObject(shareFrom, "global", c.objects[0])))
			}
			if got := b.sharedIn(shareFrom, "global"); fmt.Sprint(got) != fmt.Sprint(c.objects) {
				t.Errorf("%s: Share From lists %q shared by global, want %q", c.name, got, c.objects)
			}
			if got := b.history(shareFrom, "global", c.status, true); fmt.Sprint(got) != fmt.Sprint(c.history) {
				t.Errorf("%s: the History on Share From as of then says %q, want %q", c.name, got, c.history)
			}
		}
		if bad := b.pastActions(c.at); len(bad) > 0 {
			t.Errorf("%s: eu's buttons enabled, or without the reason, in the past: %q", c.name, bad)
		}
		b.chooseEntity("global")
		b.showTab(shareTo)
		b.do(c.name+": back on global, still in the past", wait(banner(c.at)), wait(rowWithStatus(shareTo, "eu", c.status)))
	}
	pastPNG := b.screenshot("as-of.png")
	wantBanner := "Viewing as of " + utc(shared) + " (" + clock(shared.In(browserZone)) + " your time) — actions are disabled. Live changes resume when you choose Now."
	if got := eval[string](b, "read the banner", `[...document.querySelectorAll('[role=status]')].map((e) => e.textContent.trim()).find((s) => s.startsWith('Viewing as of')) || ''`); got != wantBanner {
		t.Errorf("banner = %q, want %q", got, wantBanner)
	}

	// A change made now does not show in the past.
	must(t, s.call("POST", "/v1/entity-connections", rootTok, "global", `{"targetEntityId":"us"}`), http.StatusOK)
	time.Sleep(2 * time.Second) // twice the contract's delay for a live change
	b.do("the request to us made meanwhile does not show in the past",
		wait(rowWithStatus(shareTo, "us", "Not connected")),
		wait(banner(shared)),
		wait(`//*[@role='status'][contains(., 'Live updates are paused')]`),
	)

	// Now: the present, its buttons and live changes.
	b.do("Now brings back the present",
		click(button("Now")),
		chromedp.WaitNotPresent(`//*[@role='status'][starts-with(normalize-space(.), 'Viewing as of')]`),
		wait(rowWithStatus(shareTo, "eu", "Disconnected")),
		wait(rowWithStatus(shareTo, "us", "Pending")),
		wait(rowButton(shareTo, "us", "Cancel")),
		wait(`//*[@role='status'][starts-with(normalize-space(.), 'Live:')]`),
	)
	for _, sel := range []string{rowButton(shareTo, "eu", "Request Connection"), rowButton(shareTo, "us", "Cancel"), button("Sharing Settings")} {
		if title, disabled := b.attr(sel, "disabled"); disabled {
			t.Errorf("now: %s is disabled (title %q)", sel, title)
		}
		if title, has := b.attr(sel, "title"); has {
			t.Errorf("now: %s has the title %q", sel, title)
		}
	}
	if v := eval[string](b, "read the field", jsLabelled(asOfLabel)+`.value`); v != "" {
		t.Errorf("now: %s holds %q, want it empty", asOfLabel, v)
	}
	if got := b.sharedIn(shareTo, "eu"); len(got) != 0 {
		t.Errorf("now: Share To lists %q shared with eu, want none", got)
	}
	if got, want := b.history(shareTo, "eu", "Disconnected", false), []string{"Requested", "Accepted", "Shared Product P-42", "Disconnected", "Unshared Product P-42"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("now: the History says %q, want %q", got, want)
	}
	l := must(t, s.call("GET", "/v1/entity-connections?type=outbound&status=Pending", rootTok, "global", ""), http.StatusOK)
	us := ""
	for _, c := range l.Body["entityConnections"].([]any) {
		if c := c.(map[string]any); c["targetEntityId"] == "us" {
			us = str(c["id"])
		}
	}
	must(t, s.call("PUT", "/v1/entity-connections/"+us+"/cancel", rootTok, "global", ""), http.StatusOK)
	b.live("live changes resume: the request to us cancelled through the API", rowWithStatus(shareTo, "us", "Cancelled"))

	// A time in the future: the page refuses it and stays in the present.
	future := time.Now().Add(time.Hour).Truncate(time.Second)
	b.do("a time in the future is refused",
		chromedp.SetValue(labelled(asOfLabel), fieldValue(future)),
		click(button("View")),
		wait(alertWith("Cannot view as of "+utc(future)+": that is in the future")),
	)
	if n := eval[int](b, "look for the banner", `[...document.querySelectorAll('[role=status]')].filter((e) => e.textContent.startsWith('Viewing as of')).length`); n != 0 {
		t.Error("a refused time in the future shows the banner")
	}
	if _, disabled := b.attr(rowButton(shareTo, "eu", "Request Connection"), "disabled"); disabled {
		t.Error("after a refused time in the future, Request Connection is disabled")
	}

	// A page whose clock is an hour ahead of the service's: a time it holds to be past is
	// in the service's future; the API refuses it, its reason shows and the page stays in
	// the present.
	ahead := time.Now().Add(30 * time.Minute).Truncate(time.Second)
	b.do("the page's clock is an hour ahead", chromedp.Evaluate[chromedp.Void](`(() => {
		window.realDateNow = Date.now;
		Date.now = () => window.realDateNow.call(Date) + 3600e3;
	})()`))
	b.do("the API refuses a time in its future",
		chromedp.SetValue(labelled(asOfLabel), fieldValue(ahead)),
		click(button("View")),
		wait(alertWith("Could not view as of "+utc(ahead))),
		wait(alertWith("in the future")),
		wait(alertWith("(HTTP 400)")),
		chromedp.WaitNotPresent(`//*[@role='status'][starts-with(normalize-space(.), 'Viewing as of')]`),
		wait(rowWithStatus(shareTo, "us", "Cancelled")),
		wait(`//*[@role='status'][starts-with(normalize-space(.), 'Live:')]`),
		chromedp.Evaluate[chromedp.Void](`Date.now = window.realDateNow`),
	)
	if _, disabled := b.attr(rowButton(shareTo, "eu", "Request Connection"), "disabled"); disabled {
		t.Error("after a time the API refused, Request Connection is disabled")
	}
	if msg := eval[string](b, "read the alert", `document.querySelector('[role=alert]').textContent`); !strings.Contains(msg, "asOf") {
		t.Errorf("the alert %q does not carry the API's reason", msg)
	}
	b.checkNotReloaded()
	b.checkConsole()
	t.Logf("screenshot: %s", pastPNG)
}
