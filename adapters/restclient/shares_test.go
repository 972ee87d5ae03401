package restclient_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/entityconn/entityconn/adapters/restclient"
)

func TestShareAndUnshareSendTheirBodies(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/P-9/") {
			zuoraError(w, http.StatusConflict, 53000030, `rule violation: "us" has no Connected connection from "global"`)
			return
		}
		w.Header().Set("Entityconn-Sequence", "21")
		writeJSON(w, http.StatusOK, map[string]any{"success": true})
	})
	c := f.client(restclient.WithEntity("global"))
	res, err := c.Share(t.Context(), "Product", "P-100", []string{"eu", "us"}, restclient.IdempotencyKey("k-1"), restclient.TrackID("t-1"))
	if err != nil || res != (restclient.Result{Sequence: 21}) {
		t.Fatalf("Share = %+v, %v; want sequence 21 and no id", res, err)
	}
	res, err = c.Unshare(t.Context(), "AccountingPeriod", "2026/11", []string{"eu"})
	if err != nil || res != (restclient.Result{Sequence: 21}) {
		t.Fatalf("Unshare = %+v, %v; want sequence 21", res, err)
	}
	calls := f.recorded()
	want := []struct{ path, body string }{
		{"/v1/shared-objects/Product/P-100/share", `{"toEntityIds":["eu","us"]}`},
		{"/v1/shared-objects/AccountingPeriod/2026%2F11/unshare", `{"fromEntityIds":["eu"]}`},
	}
	for i, w := range want {
		r := calls[i]
		if r.Method != http.MethodPut || r.Path != w.path || r.Body != w.body || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("call %d = %s %s %q (%s), want PUT %s %q", i, r.Method, r.Path, r.Body, r.Header.Get("Content-Type"), w.path, w.body)
		}
		if r.Header.Get("Zuora-Entity-Ids") != "global" {
			t.Errorf("call %d: Zuora-Entity-Ids = %q, want global", i, r.Header.Get("Zuora-Entity-Ids"))
		}
	}
	if h := calls[0].Header; h.Get("Idempotency-Key") != "k-1" || h.Get("Zuora-Track-Id") != "t-1" {
		t.Errorf("share headers = %v, want the idempotency key and track id", h)
	}

	_, err = c.Share(t.Context(), "Product", "P-9", []string{"us"})
	var apiErr *restclient.APIError
	if !errors.Is(err, restclient.ErrRuleViolation) || !errors.As(err, &apiErr) || apiErr.Status != http.StatusConflict || !strings.Contains(apiErr.Message, `"us"`) {
		t.Errorf("refused Share = %v; want ErrRuleViolation, 409, naming us", err)
	}
}

func TestShareArgumentsAreCheckedWithoutACall(t *testing.T) {
	f := newFakeAPI(t, okEntities)
	c := f.client()
	for name, call := range map[string]func() error{
		"share without a type":    func() error { _, err := c.Share(t.Context(), "", "P-1", []string{"eu"}); return err },
		"share without an id":     func() error { _, err := c.Share(t.Context(), "Product", "", []string{"eu"}); return err },
		"share without targets":   func() error { _, err := c.Share(t.Context(), "Product", "P-1", nil); return err },
		"unshare without targets": func() error { _, err := c.Unshare(t.Context(), "Product", "P-1", []string{}); return err },
	} {
		if err := call(); !errors.Is(err, restclient.ErrMissing) {
			t.Errorf("%s: error = %v, want ErrMissing", name, err)
		}
	}
	if f.tokenRequests() != 0 || len(f.recorded()) != 0 {
		t.Errorf("requests were sent")
	}
}

func TestSharedObjectsSendsFiltersAndParsesItems(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"sharedObjects":[{"objectType":"Product","objectId":"P-100","sourceEntityId":"global",
			"targetEntityId":"eu","connectionId":"c-1","sharedAt":"2026-11-27T10:10:00.5Z","sharedBy":"alice"}],
			"nextPage":"/v1/shared-objects?direction=sharedBy&page=3&pageSize=1","success":true}`)
	})
	page, err := f.client().SharedObjects(t.Context(), restclient.SharedOptions{
		Direction: "sharedBy", ObjectType: "Product", Page: 2, PageSize: 1, MinSequence: 9,
	})
	if err != nil {
		t.Fatalf("SharedObjects() error = %v", err)
	}
	want := restclient.SharedObject{ObjectType: "Product", ObjectID: "P-100", SourceEntityID: "global", TargetEntityID: "eu",
		ConnectionID: "c-1", SharedAt: time.Date(2026, 11, 27, 10, 10, 0, 5e8, time.UTC), SharedBy: "alice"}
	if len(page.Items) != 1 || page.Items[0] != want {
		t.Fatalf("SharedObjects() items = %+v, want [%+v]", page.Items, want)
	}
	if page.NextPage != "/v1/shared-objects?direction=sharedBy&page=3&pageSize=1" {
		t.Errorf("NextPage = %q", page.NextPage)
	}
	r := f.recorded()[0]
	q, _ := url.ParseQuery(r.RawQuery)
	wantQ := url.Values{"direction": {"sharedBy"}, "objectType": {"Product"}, "page": {"2"}, "pageSize": {"1"}, "minSequence": {"9"}}
	if r.Method != http.MethodGet || r.Path != "/v1/shared-objects" || q.Encode() != wantQ.Encode() {
		t.Errorf("request = %s %s?%s, want GET /v1/shared-objects?%s", r.Method, r.Path, r.RawQuery, wantQ.Encode())
	}
}

func TestSharedObjectsAllFollowsNextPage(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		page := 1
		if p := r.URL.Query().Get("page"); p != "" {
			_, _ = fmt.Sscan(p, &page)
		}
		items := []map[string]any{}
		for i := (page - 1) * 2; i < min(page*2, 5); i++ {
			items = append(items, map[string]any{"objectType": "Product", "objectId": fmt.Sprintf("P-%d", i),
				"sourceEntityId": "global", "targetEntityId": "eu", "connectionId": "c-1", "sharedAt": "2026-11-27T10:00:00Z", "sharedBy": "alice"})
		}
		body := map[string]any{"sharedObjects": items, "success": true}
		if page*2 < 5 {
			// Another host: the client asks its own instead, with its token.
			body["nextPage"] = fmt.Sprintf("http://internal.invalid:9999/v1/shared-objects?direction=sharedWith&page=%d&pageSize=2", page+1)
		}
		writeJSON(w, http.StatusOK, body)
	})
	all, err := f.client().SharedObjectsAll(t.Context(), restclient.SharedOptions{Direction: "sharedWith", PageSize: 2})
	if err != nil {
		t.Fatalf("SharedObjectsAll() error = %v", err)
	}
	var ids []string
	for _, o := range all {
		ids = append(ids, o.ObjectID)
	}
	if got := strings.Join(ids, ","); got != "P-0,P-1,P-2,P-3,P-4" {
		t.Errorf("SharedObjectsAll() = %s, want P-0..P-4", got)
	}
	calls := f.recorded()
	if len(calls) != 3 || calls[2].RawQuery != "direction=sharedWith&page=3&pageSize=2" {
		t.Errorf("calls = %d, last query %q; want 3 pages", len(calls), calls[len(calls)-1].RawQuery)
	}
}

func TestSharedObjectsErrorsAndEmptyPage(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("direction") == "both" {
			zuoraError(w, http.StatusBadRequest, 53000020, `invalid value: direction "both" must be sharedBy or sharedWith`)
			return
		}
		_, _ = io.WriteString(w, `{"sharedObjects":[],"success":true}`)
	})
	c := f.client()
	if _, err := c.SharedObjects(t.Context(), restclient.SharedOptions{Direction: "both"}); !errors.Is(err, restclient.ErrInvalid) {
		t.Errorf("SharedObjects(both) error = %v, want ErrInvalid", err)
	}
	page, err := c.SharedObjects(t.Context(), restclient.SharedOptions{})
	if err != nil || page.Items == nil || len(page.Items) != 0 || page.NextPage != "" {
		t.Errorf("SharedObjects() = %+v, %v; want empty non-nil items and no next page", page, err)
	}
	if q := f.recorded()[1].RawQuery; q != "" {
		t.Errorf("query = %q, want none", q)
	}
}
