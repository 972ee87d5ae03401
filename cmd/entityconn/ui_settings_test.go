package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"
)

// The sharing settings of contract §8 on the page: the "Sharing Settings" button, its dialog
// and what the settings do to requests, seen live.

// Labels of the dialog's choices.
const (
	acceptEvery = "Accept requests from every entity"
	acceptThese = "Accept requests from these entities"
	acceptNone  = "Accept no requests automatically"
)

// checked is an expression true while the control labelled label is checked.
func checked(label string) string {
	return jsLabelled(label) + ".checked"
}

// openSettings opens the Sharing Settings dialog and waits until it shows the current
// setting, which reads "Now: " + now.
func (b *browser) openSettings(now string) {
	b.t.Helper()
	b.do("open Sharing Settings (now: "+now+")",
		click(button("Sharing Settings")),
		wait(openDialog+fmt.Sprintf(`//*[starts-with(normalize-space(.), %s)]`, xq("Now: "+now))),
	)
}

// saveSettings saves the dialog and waits until the page says what was saved.
func (b *browser) saveSettings(saved string) {
	b.t.Helper()
	b.do("save the sharing settings ("+saved+")",
		click(dialogButton("Save")),
		chromedp.WaitNotPresent(openDialog),
		wait(fmt.Sprintf(`//*[@role='status'][normalize-space(.)=%s]`, xq("Sharing settings saved: "+saved+"."))),
	)
}

// settingsSources returns the labels of the entities the open dialog offers, "+" before
// each that is checked.
func (b *browser) settingsSources() []string {
	b.t.Helper()
	return eval[[]string](b, "read the entities offered", `[...document.querySelectorAll('dialog[open] input[type=checkbox]')]
		.map((c) => (c.checked ? '+' : '') + c.labels[0].textContent.trim())`)
}

// autoAcceptFrom returns the entity's setting as the API reads it.
func (s *service) autoAcceptFrom(t *testing.T, client, entity string) string {
	t.Helper()
	return fmt.Sprint(must(t, s.call("GET", "/v1/entity-sharing-settings", s.token(client), entity, ""), http.StatusOK).Body["autoAcceptFrom"])
}

// failNextSettingsChange makes the browser hold the page's requests for the sharing
// settings; the returned function answers the next PUT with a 503 and a Zuora error body, as
// the service does when it is unavailable (the request never reaches the service), lets any
// other request through, and stops holding them.
func (b *browser) failNextSettingsChange() (answer func()) {
	b.t.Helper()
	paused := make(chan *fetch.EventRequestPaused, 16)
	err := chromedp.Listen(b.ctx, func(ev any) {
		if ev, ok := ev.(*fetch.EventRequestPaused); ok && strings.Contains(ev.Request.URL, "/v1/entity-sharing-settings") {
			select {
			case paused <- ev:
			default: // more than the test will ever answer
			}
		}
	})
	if err != nil {
		b.t.Fatalf("%s: listen: %v", b.name, err)
	}
	b.do("hold the requests for the sharing settings", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*/v1/entity-sharing-settings*"}}})
		return err
	}))
	return func() {
		b.t.Helper()
		for {
			var ev *fetch.EventRequestPaused
			select {
			case ev = <-paused:
			case <-time.After(stepTimeout):
				b.t.Fatalf("%s: the page sent no PUT of the sharing settings within %v", b.name, stepTimeout)
			}
			if ev.Request.Method != http.MethodPut {
				b.do("let "+ev.Request.Method+" through", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
					_, err := cdp.Call(ctx, tg, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
					return err
				}))
				continue
			}
			b.do("answer the PUT of the sharing settings with a 503, and stop holding", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, fetch.FulfillRequest, fetch.FulfillRequestParams{
					RequestID:       ev.RequestID,
					ResponseCode:    http.StatusServiceUnavailable,
					ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "application/json"}},
					Body:            []byte(`{"success":false,"processId":"test","reasons":[{"code":53000061,"message":"the event store is unavailable, retry later"}]}`),
				})
				if err != nil {
					return err
				}
				_, err = cdp.Call(ctx, tg, fetch.Disable, cdp.Empty{})
				return err
			}))
			return
		}
	}
}

// TestUISharingSettings runs the sharing settings of contract §8 on the page. eu's admin
// opens Sharing Settings and allows global: global's request is Connected at once and shows
// so on eu's Share From, live, with its acceptance by system:auto-accept in the History;
// every entity, then no entity: a new request stays Pending. A refused save shows the API's
// reason in role="alert" and changes nothing. An admin who knows no other entity adds one by
// its id; a user who is not an admin sees the setting with every control disabled, with the
// reason.
func TestUISharingSettings(t *testing.T) {
	t.Parallel()
	exe := chromium(t)
	s := startService(t)
	rootTok := s.token("root")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	admin := newBrowser(t, ctx, exe, "admin") // root, acting in eu
	other := newBrowser(t, ctx, exe, "other") // eve, then viv

	admin.open(s.base)
	admin.signedIn("root")
	admin.chooseEntity("eu")
	admin.showTab(shareFrom)
	admin.do("eu has no inbound connection yet", wait(panel(shareFrom)+`//*[contains(., 'No entity has requested a connection')]`))
	admin.markPage()

	// Never set: no request is accepted automatically. The dialog offers the entities root
	// knows, never eu itself.
	admin.openSettings("no request is accepted automatically.")
	admin.do("no request is accepted automatically", until(checked(acceptNone)))
	if got := fmt.Sprint(admin.settingsSources()); got != "[ACME Global ACME Americas ACME Asia Pacific]" {
		t.Errorf("admin: the dialog offers %s, want [ACME Global ACME Americas ACME Asia Pacific], none checked", got)
	}
	admin.do("choose global",
		click(labelled(acceptThese)),
		click(labelled("ACME Global")),
		until(checked("ACME Global")),
		until(checked(acceptThese)),
	)
	dialogPNG := admin.screenshot("sharing-settings.png")
	admin.saveSettings("requests from ACME Global (global) are accepted automatically")
	if got := s.autoAcceptFrom(t, "eve", "eu"); got != "[global]" {
		t.Fatalf("eu's setting after the save = %s, want [global]", got)
	}

	// global requests eu: Connected at once, and so on eu's page, without a reload.
	r := must(t, s.call("POST", "/v1/entity-connections", rootTok, "global", `{"targetEntityId":"eu"}`), http.StatusOK)
	if r.Body["status"] != "Connected" {
		t.Fatalf("global's request to eu under the setting [global] = %s, want Connected", r.Raw)
	}
	globalEU := str(r.Body["id"])
	admin.live("eu's page shows global's request Connected", rowWithStatus(shareFrom, "global", "Connected"))
	admin.do("it offers Disconnect, not Accept",
		wait(rowButton(shareFrom, "global", "Disconnect")),
		chromedp.WaitNotPresent(rowButton(shareFrom, "global", "Accept")),
	)
	admin.do("the History shows the automatic acceptance",
		click(rowButton(shareFrom, "global", "History")),
		wait(`//dialog[@open]//tr[*[normalize-space(.)='Requested']][*[normalize-space(.)='root']]`),
		wait(`//dialog[@open]//tr[*[normalize-space(.)='Accepted automatically (sharing settings)']][*[normalize-space(.)='system:auto-accept']]`),
	)
	historyPNG := admin.screenshot("sharing-settings-history.png")
	admin.do("close the History", click(dialogButton("Close")), chromedp.WaitNotPresent(openDialog))

	// Every entity: us's request is accepted too.
	admin.openSettings("requests from ACME Global (global) are accepted automatically.")
	admin.do("the dialog shows global chosen", until(checked(acceptThese)), until(checked("ACME Global")))
	admin.do("choose every entity", click(labelled(acceptEvery)), until(checked(acceptEvery)))
	admin.saveSettings("requests from every entity are accepted automatically")
	r = must(t, s.call("POST", "/v1/entity-connections", rootTok, "us", `{"targetEntityId":"eu"}`), http.StatusOK)
	if r.Body["status"] != "Connected" {
		t.Fatalf("us's request to eu under the setting [*] = %s, want Connected", r.Raw)
	}
	admin.live("eu's page shows us's request Connected", rowWithStatus(shareFrom, "us", "Connected"))

	// A save the API refuses: its reason in role="alert"; the setting is as it was.
	admin.openSettings("requests from every entity are accepted automatically.")
	admin.do("choose no entity", until(checked(acceptEvery)), click(labelled(acceptNone)))
	refused := admin.failNextSettingsChange()
	admin.do("save", click(dialogButton("Save")), chromedp.WaitNotPresent(openDialog))
	refused()
	admin.do("the refusal shows",
		wait(alertWith("Could not save the sharing settings of ACME Europe")),
		wait(alertWith("the event store is unavailable, retry later (HTTP 503)")),
	)
	if got := s.autoAcceptFrom(t, "root", "eu"); got != "[*]" {
		t.Fatalf("eu's setting after a refused save = %s, want [*]", got)
	}

	// No entity: a new request from global waits for an admin.
	admin.openSettings("requests from every entity are accepted automatically.")
	admin.do("choose no entity again", click(labelled(acceptNone)), until(checked(acceptNone)))
	admin.saveSettings("no request is accepted automatically")
	if got := s.autoAcceptFrom(t, "root", "eu"); got != "[]" {
		t.Fatalf("eu's setting = %s, want []", got)
	}
	must(t, s.call("PUT", "/v1/entity-connections/"+globalEU+"/disconnect", rootTok, "global", ""), http.StatusOK)
	admin.live("eu's page shows global disconnected", rowWithStatus(shareFrom, "global", "Disconnected"))
	r = must(t, s.call("POST", "/v1/entity-connections", rootTok, "global", `{"targetEntityId":"eu"}`), http.StatusOK)
	if r.Body["status"] != "Pending" {
		t.Fatalf("global's request to eu under the setting [] = %s, want Pending", r.Raw)
	}
	admin.live("eu's page shows global's new request Pending", rowWithStatus(shareFrom, "global", "Pending"))
	admin.do("it waits for Accept", wait(rowButton(shareFrom, "global", "Accept")))
	admin.checkNotReloaded()

	// eve, eu's admin, has access to eu only: the dialog offers the entities of eu's
	// connections, by name (any user may read the tenant's names), and any other by its id.
	other.open(s.base)
	other.signedIn("eve")
	other.showTab(shareFrom)
	other.do("eve sees eu's connections", wait(rowWithStatus(shareFrom, "global", "Pending")), wait(rowWithStatus(shareFrom, "us", "Connected")))
	// Counterparts are named (from GET /v1/entities), though eve has no access to them.
	other.do("eve sees the counterparts' names",
		wait(row(shareFrom, "global")+`/th[normalize-space(.)='ACME Global']`),
		wait(row(shareFrom, "us")+`/th[normalize-space(.)='ACME Americas']`))
	other.openSettings("no request is accepted automatically.")
	if got := fmt.Sprint(other.settingsSources()); got != "[ACME Global ACME Americas]" {
		t.Errorf("eve: the dialog offers %s, want [ACME Global ACME Americas] (names of entities eve has no access to, too), none checked", got)
	}
	other.do("these entities, but none chosen: Save asks for one",
		click(labelled(acceptThese)),
		click(dialogButton("Save")),
		until(jsLabelled(acceptThese)+`.validationMessage.startsWith('Choose at least one entity')`),
		wait(openDialog),
	)
	other.do("eu itself may not be added",
		typeInto("Other entity ID", "eu"),
		click(dialogButton("Add")),
		until(jsLabelled("Other entity ID")+`.validationMessage.includes('itself')`),
	)
	if got := fmt.Sprint(other.settingsSources()); got != "[ACME Global ACME Americas]" {
		t.Errorf("eve: after adding eu itself the dialog offers %s, want [ACME Global ACME Americas], none checked", got)
	}
	other.do("choose us, and apac by its id",
		click(labelled("ACME Americas")),
		until(checked(acceptThese)),
		typeInto("Other entity ID", "apac"),
		click(dialogButton("Add")),
		until(checked("ACME Asia Pacific")),
	)
	other.saveSettings("requests from ACME Americas (us) and ACME Asia Pacific (apac) are accepted automatically")
	if got := s.autoAcceptFrom(t, "eve", "eu"); got != "[us apac]" {
		t.Fatalf("eu's setting after eve's save = %s, want [us apac]", got)
	}
	admin.do("global's request stays Pending", wait(rowWithStatus(shareFrom, "global", "Pending")))

	// viv, a user of eu who is not an admin, sees the setting and may not change it.
	other.signOut()
	other.signedIn("viv")
	other.chooseEntity("eu")
	other.openSettings("requests from ACME Americas (us) and ACME Asia Pacific (apac) are accepted automatically.")
	other.do("viv sees the setting", until(checked(acceptThese)), until(checked("ACME Americas")), until(checked("ACME Asia Pacific")))
	bad := eval[[]string](other, "read the dialog's controls", `[...document.querySelectorAll('dialog[open] input, dialog[open] button')]
		.filter((c) => c.textContent.trim() !== 'Close' && (!c.disabled || c.title !== 'You are not an admin of ACME Europe'))
		.map((c) => c.outerHTML)`)
	if len(bad) > 0 {
		t.Errorf("viv: controls of Sharing Settings enabled, or without the reason: %q", bad)
	}
	if got := fmt.Sprint(other.settingsSources()); got != "[ACME Global +ACME Americas +ACME Asia Pacific]" {
		t.Errorf("viv: the dialog offers %s, want [ACME Global +ACME Americas +ACME Asia Pacific] (+: checked)", got)
	}
	if n := eval[int](other, "count the dialog's disabled choices", `document.querySelectorAll('dialog[open] input:disabled').length`); n != 7 {
		t.Errorf("viv: %d disabled inputs, want 7 (3 choices, 3 entities, Other entity ID)", n)
	}
	if _, disabled := other.attr(dialogButton("Save"), "disabled"); !disabled {
		t.Error("viv: Save is enabled")
	}
	viewerPNG := other.screenshot("sharing-settings-viewer.png")
	other.do("close the dialog", click(dialogButton("Close")), chromedp.WaitNotPresent(openDialog))

	admin.checkConsole()
	other.checkConsole()
	t.Logf("screenshots: %s, %s and %s", dialogPNG, historyPNG, viewerPNG)
}
