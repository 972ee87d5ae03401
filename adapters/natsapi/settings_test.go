package natsapi_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/entityconn/entityconn/adapters/natsapi"
)

// settingsOf returns the autoAcceptFrom of a settings read as user in entity.
func (m *microAPI) settingsOf(t *testing.T, user, entity string) string {
	t.Helper()
	a := m.mustOK(t, user, "settings", `{"entityId":"`+entity+`"}`)
	from, ok := a.body["autoAcceptFrom"].([]any)
	if !ok || a.body["success"] != true {
		t.Fatalf("settings of %s = %s; want autoAcceptFrom, a list, and success", entity, a.raw)
	}
	if _, ok := a.header[natsapi.HeaderSequence]; ok {
		t.Errorf("a settings read carries %s", natsapi.HeaderSequence)
	}
	return fmt.Sprint(from)
}

// The settings endpoint (contract §8): a body without autoAcceptFrom reads the acting
// entity's settings, one with it changes them. Only an admin changes them, bad input and
// refusals store nothing, a command id replays its first outcome, and a request from an
// allowed source is answered Connected, with two events and system:auto-accept in its
// history; from another source it is Pending.
func TestSettingsOverTheMicroService(t *testing.T) {
	m := startMicro(t)
	if got := m.settingsOf(t, "viv", "eu"); got != "[]" {
		t.Fatalf("settings never set = %s, want []", got)
	}
	before := m.events(t)

	// Who may not.
	for _, c := range []struct {
		user, body   string
		status, code int
	}{
		{"viv", `{"commandId":"x-1","entityId":"eu","autoAcceptFrom":["global"]}`, 403, 53000010}, // a user, not an admin, of eu
		{"sam", `{"commandId":"x-2","entityId":"eu","autoAcceptFrom":["global"]}`, 403, 53000010}, // no grant on eu
		{"sam", `{"entityId":"eu"}`, 403, 53000010},                                               // nor may it read them
		{"eve", `{"actorUserId":"root","entityId":"eu","autoAcceptFrom":["global"]}`, 403, 53000010},
	} {
		if a := m.call(t, c.user, "settings", c.body); a.status != c.status || a.code != c.code {
			t.Errorf("settings %s by %s = %d %s; want %d code %d", c.body, c.user, a.status, a.raw, c.status, c.code)
		}
	}
	// Bad input, each with its category.
	for _, c := range []struct {
		body string
		code int
	}{
		{`{"entityId":"eu","autoAcceptFrom":"global"}`, 53000020},
		{`{"entityId":"eu","autoAcceptFrom":["*","global"]}`, 53000020},
		{`{"entityId":"eu","autoAcceptFrom":["eu"]}`, 53000020},
		{`{"entityId":"eu","autoAcceptFrom":["g l"]}`, 53000020},
		{`{"entityId":"eu","autoAcceptFrom":["us","us"]}`, 53000020},
		{`{"entityId":"eu","autoAcceptFrom":[1]}`, 53000020},
		{`{"entityId":"eu","autoAcceptFrom":null}`, 53000020},
		{`{"entityId":"eu","AutoAcceptFrom":null}`, 53000020},
		{`{"entityId":"eu","autoAccept":["global"]}`, 53000021},
		{`{"entityId":"eu.*"}`, 53000020},
		{`{"commandId":"x-3","entityId":"eu"}`, 53000022},
		{`{"autoAcceptFrom":["global"]}`, 53000022},
		{`{}`, 53000022},
		{`not json`, 53000090},
	} {
		if a := m.call(t, "eve", "settings", c.body); a.status != 400 || a.code != c.code {
			t.Errorf("settings %s = %d %s; want 400 with code %d", c.body, a.status, a.raw, c.code)
		}
	}
	if n := m.events(t); n != before {
		t.Fatalf("refusals and bad input stored %d events", n-before)
	}

	a := m.mustOK(t, "eve", "settings", `{"commandId":"set-1","entityId":"eu","autoAcceptFrom":["global"]}`)
	seq := a.header.Get(natsapi.HeaderSequence)
	if a.raw != `{"success":true}` || seq == "" || seq == "0" {
		t.Fatalf("settings change = %q %s; want {\"success\":true} and a sequence", a.header, a.raw)
	}
	if _, ok := a.header[natsapi.HeaderConnectionID]; ok {
		t.Errorf("settings change reply has a %s header: %q", natsapi.HeaderConnectionID, a.header)
	}
	if again := m.mustOK(t, "eve", "settings", `{"commandId":"set-1","entityId":"eu","autoAcceptFrom":["global"]}`); again.header.Get(natsapi.HeaderSequence) != seq {
		t.Errorf("settings change with the same command id: sequence %s, want the first %s", again.header.Get(natsapi.HeaderSequence), seq)
	}
	if n := m.events(t); n != before+1 {
		t.Fatalf("one settings change stored %d events", n-before)
	}
	if got := m.settingsOf(t, "viv", "eu"); got != "[global]" {
		t.Fatalf("settings after the change = %s, want [global]", got)
	}

	// A request from global is Connected at once; one from us stays Pending.
	a = m.mustOK(t, "root", "request", `{"commandId":"r-1","entityId":"global","targetEntityId":"eu"}`)
	if a.body["status"] != "Connected" {
		t.Fatalf("a request from an allowed source = %s, want status Connected", a.raw)
	}
	if again := m.mustOK(t, "root", "request", `{"commandId":"r-1","entityId":"global","targetEntityId":"eu"}`); again.raw != a.raw {
		t.Errorf("the replayed request = %s, want %s", again.raw, a.raw)
	}
	id := a.body["id"].(string)
	if n := m.events(t); n != before+3 {
		t.Fatalf("an auto-accepted request stored %d events, want 2", n-before-1)
	}
	d := m.mustOK(t, "eve", "get", `{"entityId":"eu","connectionId":"`+id+`","minSequence":`+a.header.Get(natsapi.HeaderSequence)+`}`)
	var hist []string
	for _, h := range d.body["history"].([]any) {
		it := h.(map[string]any)
		hist = append(hist, fmt.Sprintf("%s by %s in %s", it["type"], it["actorUserId"], it["actorEntityId"]))
	}
	if d.body["status"] != "Connected" || fmt.Sprint(hist) != "[ConnectionRequested by root in global ConnectionAccepted by system:auto-accept in eu]" {
		t.Errorf("the auto-accepted connection = %v %v", d.body["status"], hist)
	}
	if a := m.mustOK(t, "root", "request", `{"entityId":"us","targetEntityId":"eu"}`); a.body["status"] != "Pending" {
		t.Errorf("a request from a source not in the list = %s, want status Pending", a.raw)
	}

	// ["*"] for every source, then [] for none.
	m.mustOK(t, "eve", "settings", `{"entityId":"eu","autoAcceptFrom":["*"]}`)
	if got := m.settingsOf(t, "eve", "eu"); got != "[*]" {
		t.Errorf("settings = %s, want [*]", got)
	}
	m.mustOK(t, "root", "settings", `{"entityId":"eu","autoAcceptFrom":[]}`)
	if got := m.settingsOf(t, "eve", "eu"); got != "[]" {
		t.Errorf("settings = %s, want []", got)
	}
	m.mustOK(t, "root", "disconnect", `{"entityId":"global","connectionId":"`+id+`"}`)
	if a := m.mustOK(t, "root", "request", `{"entityId":"global","targetEntityId":"eu"}`); a.body["status"] != "Pending" {
		t.Errorf("a request under [] = %s, want status Pending", a.raw)
	}
}

// The requests' answers carry their status on NATS as on REST: Pending when the target
// never set its settings.
func TestRequestReplyCarriesTheStatus(t *testing.T) {
	m := startMicro(t)
	a := m.mustOK(t, "root", "request", `{"entityId":"global","targetEntityId":"us"}`)
	if a.body["status"] != "Pending" || a.body["id"] == "" || a.body["success"] != true {
		t.Errorf("request = %s; want an id, status Pending and success", a.raw)
	}
}

// As-of reads on the list, get and shared endpoints (contract §8): the state at instants
// between the events, and a time in the future or not RFC 3339 refused with 400 as on REST.
func TestAsOfOverTheMicroService(t *testing.T) {
	m := startMicro(t)
	instant := func() string {
		time.Sleep(20 * time.Millisecond)
		defer time.Sleep(20 * time.Millisecond)
		return time.Now().UTC().Format(time.RFC3339Nano)
	}
	t0 := instant()
	id := m.mustOK(t, "root", "request", `{"entityId":"global","targetEntityId":"eu"}`).body["id"].(string)
	t1 := instant()
	m.mustOK(t, "eve", "accept", `{"entityId":"eu","connectionId":"`+id+`"}`)
	t2 := instant()
	m.mustOK(t, "root", "share", `{"entityId":"global","objectType":"Product","objectId":"P-1","toEntityIds":["eu"]}`)
	t3 := instant()
	seq := m.mustOK(t, "eve", "disconnect", `{"entityId":"eu","connectionId":"`+id+`"}`).header.Get(natsapi.HeaderSequence)
	m.mustOK(t, "root", "list", `{"entityId":"global","minSequence":`+seq+`}`)

	get := func(at string) (string, int) {
		a := m.call(t, "eve", "get", `{"entityId":"eu","connectionId":"`+id+`","asOf":"`+at+`"}`)
		if a.status != 200 {
			return fmt.Sprint(a.status), 0
		}
		return a.body["status"].(string), len(a.body["history"].([]any))
	}
	list := func(at string) string {
		a := m.mustOK(t, "root", "list", `{"entityId":"global","type":"outbound","asOf":"`+at+`"}`)
		var out []string
		for _, it := range a.body["entityConnections"].([]any) {
			out = append(out, it.(map[string]any)["status"].(string))
		}
		return fmt.Sprint(out)
	}
	for _, c := range []struct {
		name, at, status string
		history          int
		list             string
		shares           int
	}{
		{"before the request", t0, "404", 0, "[]", 0},
		{"requested", t1, "Pending", 1, "[Pending]", 0},
		{"accepted", t2, "Connected", 2, "[Connected]", 0},
		{"shared", t3, "Connected", 3, "[Connected]", 1},
		{"now", time.Now().UTC().Format(time.RFC3339Nano), "Disconnected", 5, "[Disconnected]", 0},
	} {
		if status, n := get(c.at); status != c.status || n != c.history {
			t.Errorf("%s: the connection as of then is %s with %d history items, want %s with %d", c.name, status, n, c.status, c.history)
		}
		if got := list(c.at); got != c.list {
			t.Errorf("%s: global's outbound list as of then = %s, want %s", c.name, got, c.list)
		}
		if got := sharedItems(t, m.call(t, "eve", "shared", `{"entityId":"eu","direction":"sharedWith","asOf":"`+c.at+`"}`)); len(got) != c.shares {
			t.Errorf("%s: shared with eu as of then = %v, want %d", c.name, got, c.shares)
		}
	}
	// Any user of the entity may read the past; a user without a grant may not.
	if a := m.call(t, "sam", "list", `{"entityId":"global","asOf":"`+t2+`"}`); a.status != 403 || a.code != 53000010 {
		t.Errorf("list as of a time by a user without a grant = %d %s, want 403", a.status, a.raw)
	}
	if a := m.call(t, "sam", "get", `{"entityId":"us","connectionId":"`+id+`","asOf":"`+t2+`"}`); a.status != 404 {
		t.Errorf("get as of a time from a third entity = %d %s, want 404", a.status, a.raw)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	for _, at := range []string{future, "yesterday", "2026-10-31", strings.Repeat("9", 200)} {
		for endpoint, body := range map[string]string{
			"list":   `{"entityId":"global","asOf":"` + at + `"}`,
			"get":    `{"entityId":"global","connectionId":"` + id + `","asOf":"` + at + `"}`,
			"shared": `{"entityId":"global","asOf":"` + at + `"}`,
		} {
			if a := m.call(t, "root", endpoint, body); a.status != 400 || a.code != 53000020 {
				t.Errorf("%s %s = %d %s, want 400 with code 53000020", endpoint, body, a.status, a.raw)
			}
		}
	}
	if a := m.call(t, "root", "list", `{"entityId":"global","asOf":1}`); a.status != 400 || a.code != 53000020 {
		t.Errorf("list with a number for asOf = %d %s, want 400", a.status, a.raw)
	}
}
