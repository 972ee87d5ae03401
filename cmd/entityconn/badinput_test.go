package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/entityconn/entityconn/adapters/natsapi"
)

// TestBadInputChangesNothing sends malformed, oversized, unauthenticated and unauthorised
// requests: each gets the contract's error and the stream gains no event.
func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	s := startService(t)
	root, eve, viv, sam := s.token("root"), s.token("eve"), s.token("viv"), s.token("sam")
	pending := str(must(t, s.call("POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"eu"}`), 200).Body["id"])
	connected := str(must(t, s.call("POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"us"}`), 200).Body["id"])
	must(t, s.call("PUT", "/v1/entity-connections/"+connected+"/accept", root, "us", ""), 200)
	js := s.js()
	before := eventCount(t, js, "")

	big := `{"targetEntityId":"eu","x":"` + strings.Repeat("a", 70<<10) + `"}`
	longID := strings.Repeat("a", 65)
	cases := []struct {
		name, method, path, token, entity, body string
		headers                                 []string
		status, code                            int
	}{
		{"no token", "POST", "/v1/entity-connections", "", "global", `{"targetEntityId":"eu"}`, nil, 401, 53000011},
		{"garbage token", "POST", "/v1/entity-connections", "nonsense", "global", `{"targetEntityId":"eu"}`, nil, 401, 53000011},
		{"malformed JSON", "POST", "/v1/entity-connections", root, "global", `{"targetEntityId":`, nil, 400, 53000090},
		{"not an object", "POST", "/v1/entity-connections", root, "global", `["eu"]`, nil, 400, 53000090},
		{"unknown field", "POST", "/v1/entity-connections", root, "global", `{"target":"eu"}`, nil, 400, 53000021},
		{"target of the wrong type", "POST", "/v1/entity-connections", root, "global", `{"targetEntityId":7}`, nil, 400, 53000020},
		{"missing target", "POST", "/v1/entity-connections", root, "global", `{}`, nil, 400, 53000022},
		{"empty body", "POST", "/v1/entity-connections", root, "global", ``, nil, 400, 53000022},
		{"trailing data", "POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"apac"} {}`, nil, 400, 53000090},
		{"form body", "POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"apac"}`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, 53000090},
		{"JSON in another charset", "POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"apac"}`, []string{"Content-Type", "application/json; charset=iso-8859-1"}, 415, 53000090},
		{"body over 64 KiB", "POST", "/v1/entity-connections", root, "global", big, nil, 413, 53000070},
		{"target id with a dot", "POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"eu.west"}`, nil, 400, 53000020},
		{"target id with a wildcard", "POST", "/v1/entity-connections", root, "global", `{"targetEntityId":">"}`, nil, 400, 53000020},
		{"target id too long", "POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"` + longID + `"}`, nil, 400, 53000020},
		{"unknown target (answered as no access)", "POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"mars"}`, nil, 403, 53000010},
		{"to itself", "POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"global"}`, nil, 400, 53000020},
		{"acting entity with a dot", "POST", "/v1/entity-connections", root, "glo.bal", `{"targetEntityId":"eu"}`, nil, 400, 53000020},
		{"two acting entities", "POST", "/v1/entity-connections", root, "global,eu", `{"targetEntityId":"apac"}`, nil, 400, 53000020},
		{"no access to acting entity", "POST", "/v1/entity-connections", eve, "global", `{"targetEntityId":"eu"}`, nil, 403, 53000010},
		{"not an admin", "POST", "/v1/entity-connections", viv, "global", `{"targetEntityId":"eu"}`, nil, 403, 53000010},
		{"no access to target", "POST", "/v1/entity-connections", sam, "us", `{"targetEntityId":"eu"}`, nil, 403, 53000010},
		{"track id too long", "POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"apac"}`, []string{"Zuora-Track-Id", longID}, 400, 53000020},
		{"idempotency key too long", "POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"apac"}`, []string{"Idempotency-Key", strings.Repeat("k", 256)}, 400, 53000020},
		{"connection id not a UUID", "PUT", "/v1/entity-connections/not-a-uuid/accept", eve, "eu", ``, nil, 400, 53000020},
		{"unknown connection", "PUT", "/v1/entity-connections/9b2c1f3e-0000-4000-8000-000000000000/accept", eve, "eu", ``, nil, 404, 53000040},
		{"connection of other entities is not found", "PUT", "/v1/entity-connections/" + pending + "/accept", sam, "us", ``, nil, 404, 53000040},
		{"get connection of other entities", "GET", "/v1/entity-connections/" + pending, sam, "us", ``, nil, 404, 53000040},
		{"source accepts", "PUT", "/v1/entity-connections/" + pending + "/accept", root, "global", ``, nil, 403, 53000010},
		{"target cancels", "PUT", "/v1/entity-connections/" + pending + "/cancel", eve, "eu", ``, nil, 403, 53000010},
		{"non-admin target accepts", "PUT", "/v1/entity-connections/" + pending + "/accept", viv, "eu", ``, nil, 403, 53000010},
		{"accept a connected one", "PUT", "/v1/entity-connections/" + connected + "/accept", root, "us", ``, nil, 409, 53000030},
		{"disconnect a pending one", "PUT", "/v1/entity-connections/" + pending + "/disconnect", eve, "eu", ``, nil, 409, 53000030},
		{"deny with an unknown field", "PUT", "/v1/entity-connections/" + pending + "/deny", eve, "eu", `{"why":"x"}`, nil, 400, 53000021},
		{"reason too long", "PUT", "/v1/entity-connections/" + pending + "/deny", eve, "eu", `{"reason":"` + strings.Repeat("r", 2001) + `"}`, nil, 400, 53000020},
		{"page size over 300", "GET", "/v1/entity-connections?pageSize=301", root, "global", ``, nil, 400, 53000020},
		{"page 0", "GET", "/v1/entity-connections?page=0", root, "global", ``, nil, 400, 53000020},
		{"page whose offset overflows", "GET", "/v1/entity-connections?page=4611686018427387905&pageSize=2", root, "global", ``, nil, 400, 53000020},
		{"page over the largest", "GET", "/v1/entity-connections?page=1000001", root, "global", ``, nil, 400, 53000020},
		{"bad type", "GET", "/v1/entity-connections?type=sideways", root, "global", ``, nil, 400, 53000020},
		{"bad status", "GET", "/v1/entity-connections?status=Sleeping", root, "global", ``, nil, 400, 53000020},
		{"bad minSequence", "GET", "/v1/entity-connections?minSequence=-1", root, "global", ``, nil, 400, 53000020},
		{"unknown endpoint", "GET", "/v1/nothing", root, "global", ``, nil, 404, 53000040},
		{"wrong method", "DELETE", "/v1/entity-connections", root, "global", ``, nil, 405, 53000045},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.call(c.method, c.path, c.token, c.entity, c.body, c.headers...)
			if r.Status != c.status || r.reasonCode() != c.code {
				t.Errorf("%s %s = %d code %d, want %d code %d: %.300s", c.method, c.path, r.Status, r.reasonCode(), c.status, c.code, r.Raw)
			}
			if r.Body["success"] != false || r.Body["processId"] == nil {
				t.Errorf("error body = %.300s, want the Zuora error shape", r.Raw)
			}
		})
	}
	t.Run("NATS list with a page whose offset overflows", func(t *testing.T) {
		nc := s.connect("root")
		list := func(body string) *nats.Msg {
			t.Helper()
			msg, err := nc.Request(natsapi.Subject("root", "list"), []byte(body), 10*time.Second)
			if err != nil {
				t.Fatalf("list %s: %v", body, err)
			}
			return msg
		}
		msg := list(`{"actorUserId":"root","entityId":"global","page":4611686018427387905,"pageSize":2}`)
		var body struct {
			Reasons []struct {
				Code int `json:"code"`
			} `json:"reasons"`
		}
		_ = json.Unmarshal(msg.Data, &body)
		if got := msg.Header.Get("Nats-Service-Error-Code"); got != "400" || len(body.Reasons) != 1 || body.Reasons[0].Code != 53000020 {
			t.Errorf("list with page 4611686018427387905 = error code %q, body %s; want 400 with code 53000020", got, msg.Data)
		}
		if msg := list(`{"actorUserId":"root","entityId":"global"}`); msg.Header.Get("Nats-Service-Error-Code") != "" {
			t.Errorf("list after the probe = %q %s, want an answer", msg.Header, msg.Data)
		}
	})
	if after := eventCount(t, js, ""); after != before {
		t.Errorf("bad input appended %d events", after-before)
	}
}
