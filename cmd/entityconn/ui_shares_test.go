package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Selectors of the shared objects of contract §7, by accessible name and text.

// sharedObject is the item of a tab's row of counterpart id that shows the object as text
// ("Product P-42").
func sharedObject(tabName, id, object string) string {
	return fmt.Sprintf(`%s//li[*[normalize-space(.)=%s]]`, row(tabName, id), xq(object))
}

// openDialog is the open dialog with role="dialog".
const openDialog = `//dialog[@open][@role='dialog']`

// gone waits until sel is in the page no more, within liveTimeout, and logs how long it took.
func (b *browser) gone(what, sel string) {
	b.t.Helper()
	start := time.Now()
	b.within(liveTimeout, what+" (live, without reload)", chromedp.WaitNotPresent(sel, chromedp.RetryInterval(20*time.Millisecond)))
	b.t.Logf("%s: %s after %v", b.name, what, time.Since(start).Round(time.Millisecond))
}

// until waits until the JavaScript expression expr is true.
func until(expr string) chromedp.Action[chromedp.Void] {
	poll := chromedp.Poll[bool](expr, chromedp.WithPollingInterval(20*time.Millisecond))
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := poll(ctx, t)
		return chromedp.Void{}, err
	}
}

// focusOn is an expression true while the focus is on a button named name whose list item
// (or, with item "", row) reads item.
func focusOn(name, item string) string {
	return fmt.Sprintf(`(() => {
		const a = document.activeElement;
		if (!a || a.tagName !== 'BUTTON' || a.textContent.trim() !== %q) return false;
		return %q === '' || Boolean(a.closest('li') && a.closest('li').textContent.includes(%q));
	})()`, name, item, item)
}

// shareViaDialog shares object ("Type ID") from the Share To row of target through the
// Share Object dialog.
func (b *browser) shareViaDialog(target, object string) {
	b.t.Helper()
	typ, id, _ := strings.Cut(object, " ")
	b.do("share "+object+" with "+target+" through the dialog",
		click(rowButton(shareTo, target, "Share Object")),
		wait(openDialog+`//*[@id=//label[normalize-space(.)='Object type']/@for]`),
		typeInto("Object type", typ),
		typeInto("Object ID", id),
		click(dialogButton("Share")),
		chromedp.WaitNotPresent(openDialog),
	)
}

// sharedList returns "Type ID source→target" of the acting entity's shared objects in
// direction, as the API lists them.
func (s *service) sharedList(t *testing.T, client, entity, direction string) []string {
	t.Helper()
	r := must(t, s.call("GET", "/v1/shared-objects?direction="+direction, s.token(client), entity, ""), http.StatusOK)
	out := []string{}
	items, _ := r.Body["sharedObjects"].([]any)
	for _, it := range items {
		m := it.(map[string]any)
		out = append(out, fmt.Sprintf("%s %s %s→%s", m["objectType"], m["objectId"], m["sourceEntityId"], m["targetEntityId"]))
	}
	return out
}

// TestUISharedObjects runs the shared objects of contract §7 on the page, in two browsers:
// global's admin shares objects with eu from the Share To row through the Share Object
// dialog, sees them there and unshares them; eu's admin sees them live on Share From; a user
// who is not an admin sees them but may not change them; a disconnection ends every share
// on both pages; and a share that the API refuses (the connection ended while the dialog
// was open) shows the API's reason in role="alert".
func TestUISharedObjects(t *testing.T) {
	t.Parallel()
	exe := chromium(t)
	s := startService(t)
	rootTok, eveTok := s.token("root"), s.token("eve")

	// global→eu Connected, global→us Pending, global→apac none.
	eu := str(must(t, s.call("POST", "/v1/entity-connections", rootTok, "global", `{"targetEntityId":"eu"}`), 200).Body["id"])
	must(t, s.call("PUT", "/v1/entity-connections/"+eu+"/accept", eveTok, "eu", ""), 200)
	must(t, s.call("POST", "/v1/entity-connections", rootTok, "global", `{"targetEntityId":"us"}`), 200)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	root := newBrowser(t, ctx, exe, "root")
	other := newBrowser(t, ctx, exe, "other") // eve, then viv

	root.open(s.base)
	root.signedIn("root")
	root.chooseEntity("global")
	root.showTab(shareTo)
	root.do("global's rows show",
		wait(rowWithStatus(shareTo, "eu", "Connected")),
		wait(rowWithStatus(shareTo, "us", "Pending")),
		wait(rowWithStatus(shareTo, "apac", "Not connected")),
		wait(rowButton(shareTo, "eu", "Share Object")),
	)
	root.markPage()
	// Objects are shared only over a Connected connection: no Share Object elsewhere.
	for _, id := range []string{"us", "apac"} {
		if n := eval[int](root, "count the Share Object buttons of "+id, fmt.Sprintf(
			`document.evaluate(%q, document, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null).snapshotLength`,
			rowButton(shareTo, id, "Share Object"))); n != 0 {
			t.Errorf("root: the row of %s, not Connected, has a Share Object button", id)
		}
	}

	other.open(s.base)
	other.signedIn("eve")
	other.showTab(shareFrom)
	other.do("eve sees global connected", wait(rowWithStatus(shareFrom, "global", "Connected")))
	other.markPage()

	// Share through the dialog: the object shows on Share To beside Unshare, and on eve's
	// Share From, live.
	root.shareViaDialog("eu", "Product P-42")
	root.do("Product P-42 shows on Share To beside Unshare", wait(sharedObject(shareTo, "eu", "Product P-42")+button("Unshare")))
	other.live("eve sees Product P-42 shared by global", sharedObject(shareFrom, "global", "Product P-42"))

	// A share made elsewhere (the API) shows on both pages.
	must(t, s.call("PUT", "/v1/shared-objects/AccountingPeriod/AP-2026-01/share", rootTok, "global", `{"toEntityIds":["eu"]}`), 200)
	root.live("root sees AccountingPeriod AP-2026-01 shared through the API", sharedObject(shareTo, "eu", "AccountingPeriod AP-2026-01")+button("Unshare"))
	other.live("eve sees AccountingPeriod AP-2026-01", sharedObject(shareFrom, "global", "AccountingPeriod AP-2026-01"))

	// The row's list folds and unfolds. (The items of a closed <details> still have boxes,
	// so its open attribute and checkVisibility tell whether they show.)
	shown := fmt.Sprintf(`document.evaluate(%q, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue.checkVisibility()`,
		sharedObject(shareTo, "eu", "Product P-42"))
	root.do("fold eu's shared objects",
		click(row(shareTo, "eu")+`//summary[normalize-space(.)='2 shared objects']`),
		wait(row(shareTo, "eu")+`//details[not(@open)]`),
	)
	if eval[bool](root, "see whether Product P-42 shows", shown) {
		t.Error("root: Product P-42 shows in a folded list")
	}
	root.do("unfold them", click(row(shareTo, "eu")+`//summary`), wait(row(shareTo, "eu")+`//details[@open]`))
	if !eval[bool](root, "see whether Product P-42 shows", shown) {
		t.Error("root: Product P-42 does not show in an unfolded list")
	}

	// Unshare: gone from both pages; then shared again.
	root.do("unshare Product P-42", click(sharedObject(shareTo, "eu", "Product P-42")+button("Unshare")))
	root.gone("Product P-42 is gone from Share To", sharedObject(shareTo, "eu", "Product P-42"))
	root.do("the focus moves on to the Unshare of the object left", until(focusOn("Unshare", "AccountingPeriod AP-2026-01")))
	other.gone("eve sees Product P-42 unshared", sharedObject(shareFrom, "global", "Product P-42"))
	root.do("AccountingPeriod AP-2026-01 stays", wait(sharedObject(shareTo, "eu", "AccountingPeriod AP-2026-01")))
	root.shareViaDialog("eu", "Product P-42")
	root.do("Product P-42 is shared again", wait(sharedObject(shareTo, "eu", "Product P-42")+button("Unshare")))
	root.do("the focus is back on Share Object", until(focusOn("Share Object", "")))
	other.live("eve sees Product P-42 shared again", sharedObject(shareFrom, "global", "Product P-42"))
	if got := fmt.Sprint(s.sharedList(t, "eve", "eu", "sharedWith")); !strings.Contains(got, "Product P-42 global→eu") || !strings.Contains(got, "AccountingPeriod AP-2026-01 global→eu") {
		t.Errorf("shared with eu = %s, want Product P-42 and AccountingPeriod AP-2026-01 from global", got)
	}
	root.do("the history names the shared objects",
		click(rowButton(shareTo, "eu", "History")),
		wait(`//dialog[@open]//tr[*[normalize-space(.)='Shared Product P-42']][*[normalize-space(.)='root']]`),
		wait(`//dialog[@open]//tr[*[normalize-space(.)='Unshared Product P-42']]`),
		click(dialogButton("Close")),
		chromedp.WaitNotPresent(`//dialog[@open]`),
	)
	other.checkNotReloaded()
	sharedPNG, sharedWithPNG := root.screenshot("shared-objects.png"), other.screenshot("shared-with.png")
	root.do("narrow the window", chromedp.EmulateViewport(375, 760), wait(sharedObject(shareTo, "eu", "AccountingPeriod AP-2026-01")+button("Unshare")))
	if w := eval[[]int](root, "measure the page", `[document.documentElement.scrollWidth, window.innerWidth]`); len(w) != 2 || w[0] > w[1] {
		t.Errorf("root: at 375px, with shared objects, the page is %v px wide (scrollWidth, innerWidth): it must reflow", w)
	}
	narrowPNG := root.screenshot("shared-objects-narrow.png")
	root.do("widen the window", chromedp.EmulateViewport(1100, 760))

	// viv, a user of global and eu who is not an admin, sees the objects on both sides but
	// may not share or unshare: the buttons are disabled, with the reason.
	other.signOut()
	other.signedIn("viv")
	other.chooseEntity("global")
	other.showTab(shareTo)
	other.do("viv sees global's shared objects", wait(sharedObject(shareTo, "eu", "Product P-42")+button("Unshare")))
	for _, sel := range []string{rowButton(shareTo, "eu", "Share Object"), sharedObject(shareTo, "eu", "Product P-42") + button("Unshare")} {
		if _, disabled := other.attr(sel, "disabled"); !disabled {
			t.Errorf("viv: %s is enabled", sel)
		}
		if title, _ := other.attr(sel, "title"); title != "You are not an admin of ACME Global" {
			t.Errorf("viv: the title of %s = %q, want You are not an admin of ACME Global", sel, title)
		}
	}
	other.checkNoActions("Share To of global, with shared objects")
	other.chooseEntity("eu")
	other.showTab(shareFrom)
	other.do("viv sees the objects shared with eu",
		wait(sharedObject(shareFrom, "global", "Product P-42")),
		wait(sharedObject(shareFrom, "global", "AccountingPeriod AP-2026-01")),
	)
	other.markPage()

	// A disconnection ends every share, on both pages at once.
	root.do("root disconnects eu",
		click(rowButton(shareTo, "eu", "Disconnect")),
		wait(labelled("Reason (optional)")),
		click(dialogButton("Disconnect connection")),
		wait(rowWithStatus(shareTo, "eu", "Disconnected")),
	)
	root.gone("every object shared with eu is gone from Share To", panel(shareTo)+`//li`)
	other.live("viv sees eu's connection from global disconnected", rowWithStatus(shareFrom, "global", "Disconnected"))
	other.gone("every object shared with eu is gone from Share From", panel(shareFrom)+`//li`)
	if got := s.sharedList(t, "root", "global", "sharedBy"); len(got) != 0 {
		t.Errorf("shared by global after the disconnection = %v, want none", got)
	}
	root.do("Share Object is gone with the connection", chromedp.WaitNotPresent(rowButton(shareTo, "eu", "Share Object")))
	other.checkNotReloaded()

	// A share the API refuses: the connection ends while the dialog is open.
	eu = str(must(t, s.call("POST", "/v1/entity-connections", rootTok, "global", `{"targetEntityId":"eu"}`), 200).Body["id"])
	must(t, s.call("PUT", "/v1/entity-connections/"+eu+"/accept", eveTok, "eu", ""), 200)
	root.live("root sees eu connected again", rowButton(shareTo, "eu", "Share Object"))
	root.do("open the Share Object dialog",
		click(rowButton(shareTo, "eu", "Share Object")),
		wait(openDialog),
		typeInto("Object type", "Product"),
		typeInto("Object ID", "P-7"),
	)
	dialogPNG := root.screenshot("share-object-dialog.png")
	must(t, s.call("PUT", "/v1/entity-connections/"+eu+"/disconnect", eveTok, "eu", `{"reason":"closing"}`), 200)
	root.live("root sees eu disconnected behind the dialog", rowWithStatus(shareTo, "eu", "Disconnected"))
	root.do("the refused share shows the API's reason",
		click(dialogButton("Share")),
		wait(alertWith("Could not share Product P-7 with ACME Europe")),
		wait(alertWith("Connected")),
		wait(alertWith("(HTTP 409)")),
	)
	if got := s.sharedList(t, "root", "global", "sharedBy"); len(got) != 0 {
		t.Errorf("shared by global after the refused share = %v, want none", got)
	}
	root.checkNotReloaded()

	root.checkConsole()
	other.checkConsole()
	t.Logf("screenshots: %s, %s, %s and %s", sharedPNG, sharedWithPNG, narrowPNG, dialogPNG)
}
