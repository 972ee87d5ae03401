package natsapi_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/entityconn/entityconn/adapters/apptest"
	"github.com/entityconn/entityconn/adapters/natsapi"
)

// microAPI is a stack with the micro service, and a connection per directory user that
// signed in as itself (so its NATS permissions are the real ones).
type microAPI struct {
	st    *apptest.Stack
	conns map[string]*nats.Conn
}

func startMicro(t *testing.T) *microAPI {
	t.Helper()
	st := apptest.Start(t)
	srv, err := natsapi.Start(st.NC, st.Executor, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return &microAPI{st: st, conns: map[string]*nats.Conn{}}
}

// answer is a reply of the micro service.
type answer struct {
	status int // the Nats-Service-Error-Code, or 200
	code   int // the Zuora code of an error reply
	header nats.Header
	body   map[string]any
	raw    string
}

// call sends body to user's endpoint, on a connection signed in as user.
func (m *microAPI) call(t *testing.T, user, endpoint, body string) answer {
	t.Helper()
	nc := m.conns[user]
	if nc == nil {
		nc = m.st.ConnectAs(t, user)
		m.conns[user] = nc
	}
	msg, err := nc.Request(natsapi.Subject(user, endpoint), []byte(body), 10*time.Second)
	if err != nil {
		t.Fatalf("%s %s %s: %v", user, endpoint, body, err)
	}
	a := answer{status: 200, header: msg.Header, raw: string(msg.Data)}
	_ = json.Unmarshal(msg.Data, &a.body)
	if h := msg.Header.Get(micro.ErrorCodeHeader); h != "" {
		a.status, _ = strconv.Atoi(h)
		if reasons, _ := a.body["reasons"].([]any); len(reasons) > 0 {
			c, _ := reasons[0].(map[string]any)["code"].(float64)
			a.code = int(c)
		}
		if msg.Header.Get(micro.ErrorHeader) == "" || a.body["success"] != false {
			t.Errorf("%s %s: error reply without the message header or the Zuora body: %q %s", user, endpoint, msg.Header, msg.Data)
		}
	}
	return a
}

func (m *microAPI) mustOK(t *testing.T, user, endpoint, body string) answer {
	t.Helper()
	a := m.call(t, user, endpoint, body)
	if a.status != 200 {
		t.Fatalf("%s %s %s = %d %s", user, endpoint, body, a.status, a.raw)
	}
	return a
}

// events returns how many events the stream holds.
func (m *microAPI) events(t *testing.T) uint64 {
	t.Helper()
	info, err := m.st.Res.Events.Info(t.Context(), jetstream.WithSubjectFilter("entityconn.events.>"))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// sharedItems returns "type id source→target" of each item of a shared reply.
func sharedItems(t *testing.T, a answer) []string {
	t.Helper()
	if a.status != 200 || a.body["success"] != true {
		t.Fatalf("shared = %d %s", a.status, a.raw)
	}
	if _, ok := a.body["nextPage"]; ok {
		t.Errorf("shared over NATS carries a nextPage: %s", a.raw)
	}
	items, ok := a.body["sharedObjects"].([]any)
	if !ok {
		t.Fatalf("shared = %s; want a sharedObjects list", a.raw)
	}
	out := []string{}
	for _, it := range items {
		o := it.(map[string]any)
		if o["connectionId"] == "" || o["sharedAt"] == "" || o["sharedBy"] == "" {
			t.Errorf("shared item %v lacks its connection, time or user", o)
		}
		out = append(out, fmt.Sprintf("%s %s %s→%s", o["objectType"], o["objectId"], o["sourceEntityId"], o["targetEntityId"]))
	}
	return out
}

// The share, unshare and shared endpoints, on a real stack, by users signed in as
// themselves: as REST does it, all targets or none, refusals and bad input that store
// nothing, both sides' lists, and the first outcome of a command id replayed.
func TestSharesOverTheMicroService(t *testing.T) {
	m := startMicro(t)
	// global→eu Connected, global→us Pending.
	eu := m.mustOK(t, "root", "request", `{"entityId":"global","targetEntityId":"eu"}`).body["id"].(string)
	m.mustOK(t, "eve", "accept", `{"entityId":"eu","connectionId":"`+eu+`"}`)
	m.mustOK(t, "root", "request", `{"entityId":"global","targetEntityId":"us"}`)
	before := m.events(t)

	a := m.call(t, "root", "share", `{"commandId":"s-1","entityId":"global","objectType":"Product","objectId":"P-100","toEntityIds":["eu","us"]}`)
	if a.status != 409 || a.code != 53000030 || !strings.Contains(a.raw, `\"us\"`) {
		t.Fatalf("share with a Pending target = %d %s; want 409 naming us", a.status, a.raw)
	}
	if n := m.events(t); n != before {
		t.Fatalf("a refused share stored %d events", n-before)
	}

	a = m.mustOK(t, "root", "share", `{"commandId":"s-2","entityId":"global","objectType":"Product","objectId":"P-100","toEntityIds":["eu"]}`)
	seq := a.header.Get(natsapi.HeaderSequence)
	if a.raw != `{"success":true}` || seq == "" || seq == "0" {
		t.Fatalf("share = %q %s; want {\"success\":true} and a sequence", a.header, a.raw)
	}
	if _, ok := a.header[natsapi.HeaderConnectionID]; ok {
		t.Errorf("share reply has a %s header: %q", natsapi.HeaderConnectionID, a.header)
	}
	if n := m.events(t); n != before+1 {
		t.Fatalf("a share with one target stored %d events, want 1", n-before)
	}
	// The same command id replays the first outcome; another id shares again: a no-op.
	again := m.mustOK(t, "root", "share", `{"commandId":"s-2","entityId":"global","objectType":"Product","objectId":"P-100","toEntityIds":["eu"]}`)
	if got := again.header.Get(natsapi.HeaderSequence); got != seq {
		t.Errorf("share with the same command id: sequence %s, want the first %s", got, seq)
	}
	m.mustOK(t, "root", "share", `{"commandId":"s-3","entityId":"global","objectType":"Product","objectId":"P-100","toEntityIds":["eu"]}`)
	if n := m.events(t); n != before+1 {
		t.Fatalf("sharing again stored %d more events", n-before-1)
	}

	by := sharedItems(t, m.call(t, "root", "shared", `{"entityId":"global","direction":"sharedBy","minSequence":`+seq+`}`))
	with := sharedItems(t, m.call(t, "eve", "shared", `{"entityId":"eu","direction":"sharedWith","minSequence":`+seq+`}`))
	if fmt.Sprint(by) != "[Product P-100 global→eu]" || fmt.Sprint(with) != fmt.Sprint(by) {
		t.Fatalf("shared by global %v, with eu %v; want P-100 in both", by, with)
	}
	if got := sharedItems(t, m.call(t, "root", "shared", `{"entityId":"global","direction":"sharedWith"}`)); len(got) != 0 {
		t.Errorf("shared with global = %v, want none", got)
	}
	if got := sharedItems(t, m.call(t, "root", "shared", `{"entityId":"global","objectType":"AccountingPeriod"}`)); len(got) != 0 {
		t.Errorf("shared AccountingPeriods = %v, want none", got)
	}
	if got := sharedItems(t, m.call(t, "viv", "shared", `{"entityId":"global"}`)); len(got) != 1 {
		t.Errorf("shared, both directions, as a user of global = %v; want P-100 (any role may read)", got)
	}

	// Who may not: a user who is not an admin of the source, a user acting in an entity it
	// has no grant on, and the target, which has no connection to global.
	for _, c := range []struct {
		user, entity string
		status, code int
	}{
		{"viv", "global", 403, 53000010},
		{"sam", "global", 403, 53000010},
		{"eve", "eu", 409, 53000030},
	} {
		share := fmt.Sprintf(`{"entityId":%q,"objectType":"Product","objectId":"P-200","toEntityIds":["global"]}`, c.entity)
		if c.entity == "global" {
			share = `{"entityId":"global","objectType":"Product","objectId":"P-200","toEntityIds":["eu"]}`
		}
		if a := m.call(t, c.user, "share", share); a.status != c.status || a.code != c.code {
			t.Errorf("share by %s in %s = %d %s; want %d code %d", c.user, c.entity, a.status, a.raw, c.status, c.code)
		}
		unshare := strings.Replace(strings.Replace(share, "toEntityIds", "fromEntityIds", 1), "P-200", "P-100", 1)
		if a := m.call(t, c.user, "unshare", unshare); a.status != c.status || a.code != c.code {
			t.Errorf("unshare by %s in %s = %d %s; want %d code %d", c.user, c.entity, a.status, a.raw, c.status, c.code)
		}
	}
	if a := m.call(t, "sam", "shared", `{"entityId":"global"}`); a.status != 403 || a.code != 53000010 {
		t.Errorf("shared of an entity without a grant = %d %s; want 403", a.status, a.raw)
	}
	if a := m.call(t, "eve", "share", `{"actorUserId":"root","entityId":"global","objectType":"Product","objectId":"P-200","toEntityIds":["eu"]}`); a.status != 403 {
		t.Errorf("share naming another actor in the body = %d %s; want 403", a.status, a.raw)
	}

	// Bad input, each with its category.
	const obj = `"entityId":"global","objectType":"Product","objectId":"P-1"`
	for _, c := range []struct {
		endpoint, body string
		code           int
	}{
		{"share", `{"entityId":"global","objectType":"product","objectId":"P-1","toEntityIds":["eu"]}`, 53000020},
		{"share", `{"entityId":"global","objectType":"Product","objectId":"P.1","toEntityIds":["eu"]}`, 53000020},
		{"share", `{"entityId":"global","objectId":"P-1","toEntityIds":["eu"]}`, 53000022},
		{"share", `{"entityId":"global","objectType":"Product","toEntityIds":["eu"]}`, 53000022},
		{"share", `{` + obj + `}`, 53000022},
		{"share", `{` + obj + `,"toEntityIds":null}`, 53000022},
		{"share", `{` + obj + `,"toEntityIds":[]}`, 53000022},
		{"share", `{` + obj + `,"toEntityIds":["eu","eu"]}`, 53000020},
		{"share", `{` + obj + `,"toEntityIds":["global"]}`, 53000020},
		{"share", `{` + obj + `,"toEntityIds":["eu.*"]}`, 53000020},
		{"share", `{` + obj + `,"toEntityIds":"eu"}`, 53000020},
		{"share", `{` + obj + `,"toEntityIds":["eu"],"to":1}`, 53000021},
		{"share", `{` + obj + `,"toEntityIds":[` + strings.Repeat(`"e",`, 50) + `"e"]}`, 53000020},
		{"share", `{` + obj + `,"fromEntityIds":["eu"]}`, 53000020},
		{"share", `{"objectType":"Product","objectId":"P-1","toEntityIds":["eu"]}`, 53000022},
		{"unshare", `{` + obj + `,"toEntityIds":["eu"]}`, 53000020},
		{"unshare", `{` + obj + `}`, 53000022},
		{"unshare", `{` + obj + `,"fromEntityIds":[]}`, 53000022},
		{"shared", `{"entityId":"global","direction":"both"}`, 53000020},
		{"shared", `{"entityId":"global","direction":"sharedby"}`, 53000020},
		{"shared", `{"entityId":"global","objectType":"product"}`, 53000020},
		{"shared", `{"entityId":"global","pageSize":301}`, 53000020},
		{"shared", `{"entityId":"global","page":-1}`, 53000020},
		{"shared", `{"entityId":"global","direction":"sharedBy","shared":true}`, 53000021},
	} {
		if a := m.call(t, "root", c.endpoint, c.body); a.status != 400 || a.code != c.code {
			t.Errorf("%s %s = %d %s; want 400 with code %d", c.endpoint, c.body, a.status, a.raw, c.code)
		}
	}
	if n := m.events(t); n != before+1 {
		t.Fatalf("refusals and bad input stored %d events", n-before-1)
	}

	// Unsharing what is not shared is refused; unsharing P-100 ends its share on both sides.
	if a := m.call(t, "root", "unshare", `{"entityId":"global","objectType":"AccountingPeriod","objectId":"2026-11","fromEntityIds":["eu"]}`); a.status != 409 || a.code != 53000030 {
		t.Fatalf("unshare of what is not shared = %d %s; want 409", a.status, a.raw)
	}
	a = m.mustOK(t, "root", "unshare", `{"commandId":"u-1","entityId":"global","objectType":"Product","objectId":"P-100","fromEntityIds":["eu"]}`)
	seq = a.header.Get(natsapi.HeaderSequence)
	if a.raw != `{"success":true}` || seq == "" {
		t.Fatalf("unshare = %q %s", a.header, a.raw)
	}
	if got := sharedItems(t, m.call(t, "eve", "shared", `{"entityId":"eu","minSequence":`+seq+`}`)); len(got) != 0 {
		t.Errorf("shared with eu after the unshare = %v, want none", got)
	}
	if n := m.events(t); n != before+2 {
		t.Errorf("after a share and an unshare: %d events more, want 2", n-before)
	}
}
