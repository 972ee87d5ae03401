package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/natsapi"
	"github.com/entityconn/entityconn/adapters/natscmd"
)

// door sends one command to a running service and reports the outcome: the Zuora error code
// (0 on success), the HTTP-like status where the door has one (0 otherwise), the id of a
// requested connection and the status of its answer (Pending or Connected) where the door
// answers one ("" otherwise).
type door interface {
	name() string
	send(t *testing.T, user, entity, command string, req natsapi.Request) (code, status int, id, state string)
}

// autoAcceptFrom is the list of a ChangeSharingSettings request, never nil.
func autoAcceptFrom(req natsapi.Request) []string {
	if req.AutoAcceptFrom == nil {
		return []string{}
	}
	return *req.AutoAcceptFrom
}

// restDoor drives the REST API.
type restDoor struct {
	s      *service
	tokens map[string]string
}

func (d *restDoor) name() string { return "REST" }

func (d *restDoor) send(t *testing.T, user, entity, command string, req natsapi.Request) (int, int, string, string) {
	t.Helper()
	if d.tokens[user] == "" {
		d.tokens[user] = d.s.token(user)
	}
	var r response
	switch command {
	case "RequestConnection":
		r = d.s.call("POST", "/v1/entity-connections", d.tokens[user], entity, fmt.Sprintf(`{"targetEntityId":%q}`, req.TargetEntityID))
	case "ShareObject", "UnshareObject":
		path, body := "/share", map[string][]string{"toEntityIds": req.ToEntityIDs}
		if command == "UnshareObject" {
			path, body = "/unshare", map[string][]string{"fromEntityIds": req.FromEntityIDs}
		}
		data, _ := json.Marshal(body)
		r = d.s.call("PUT", "/v1/shared-objects/"+req.ObjectType+"/"+req.ObjectID+path, d.tokens[user], entity, string(data))
	case "ChangeSharingSettings":
		data, _ := json.Marshal(map[string][]string{"autoAcceptFrom": autoAcceptFrom(req)})
		r = d.s.call("PUT", "/v1/entity-sharing-settings", d.tokens[user], entity, string(data))
	default:
		body := ""
		if req.Reason != "" {
			body = fmt.Sprintf(`{"reason":%q}`, req.Reason)
		}
		path := map[string]string{"AcceptConnection": "accept", "DenyConnection": "deny", "CancelConnection": "cancel", "DisconnectConnection": "disconnect"}[command]
		r = d.s.call("PUT", "/v1/entity-connections/"+req.ConnectionID+"/"+path, d.tokens[user], entity, body)
	}
	id, _ := r.Body["id"].(string)
	state, _ := r.Body["status"].(string)
	return r.reasonCode(), r.Status, id, state
}

// microDoor drives the NATS micro service.
type microDoor struct{ nc *nats.Conn }

func (d *microDoor) name() string { return "NATS request/reply" }

func (d *microDoor) send(t *testing.T, user, entity, command string, req natsapi.Request) (int, int, string, string) {
	t.Helper()
	endpoint := map[string]string{"RequestConnection": "request", "AcceptConnection": "accept", "DenyConnection": "deny", "CancelConnection": "cancel",
		"DisconnectConnection": "disconnect", "ShareObject": "share", "UnshareObject": "unshare", "ChangeSharingSettings": "settings"}[command]
	if command == "ChangeSharingSettings" {
		from := autoAcceptFrom(req)
		req.AutoAcceptFrom = &from // with autoAcceptFrom, a body to settings is a change
	}
	req.EntityID, req.CommandID = entity, uuid.NewString()
	data, _ := json.Marshal(req)
	msg, err := d.nc.Request(natsapi.Subject(user, endpoint), data, 10*time.Second)
	if err != nil {
		t.Fatalf("micro %s: %v", endpoint, err)
	}
	var body struct {
		ID      string `json:"id"`
		Status  string `json:"status"`
		Reasons []struct {
			Code int `json:"code"`
		} `json:"reasons"`
	}
	_ = json.Unmarshal(msg.Data, &body)
	if status := msg.Header.Get("Nats-Service-Error-Code"); status != "" {
		st, _ := strconv.Atoi(status)
		if len(body.Reasons) == 0 || msg.Header.Get("Nats-Service-Error") == "" {
			t.Errorf("micro error reply without Zuora body or message: %q %s", msg.Header, msg.Data)
			return -1, st, "", ""
		}
		return body.Reasons[0].Code, st, "", ""
	}
	if msg.Header.Get(natsapi.HeaderSequence) == "" {
		t.Errorf("micro success reply without %s header", natsapi.HeaderSequence)
	}
	return 0, 200, body.ID, body.Status
}

// durableDoor publishes commands on JetStream and reads their outcomes. Its outcomes carry
// no status of a request. It has no command that changes sharing settings (contract §5
// lists its commands), so its run changes them through rest, for the steps after it.
type durableDoor struct {
	nc   *nats.Conn
	rest *restDoor
}

func (d *durableDoor) name() string { return "NATS durable commands" }

func (d *durableDoor) send(t *testing.T, user, entity, command string, req natsapi.Request) (int, int, string, string) {
	t.Helper()
	if command == "ChangeSharingSettings" {
		code, _, _, _ := d.rest.send(t, user, entity, command, req)
		return code, 0, "", ""
	}
	req.EntityID, req.CommandID = entity, uuid.NewString()
	sub, err := d.nc.SubscribeSync(natscmd.OutcomeSubject(entity))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := d.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(d.nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := natscmd.Publish(t.Context(), js, user, command, req); err != nil {
		t.Fatalf("publish %s: %v", command, err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		m, err := sub.NextMsg(time.Until(deadline))
		if err != nil {
			break
		}
		var o natscmd.Outcome
		if err := json.Unmarshal(m.Data, &o); err != nil || o.CommandID != req.CommandID {
			continue
		}
		if o.OK {
			return 0, 0, o.ConnectionID, ""
		}
		if o.Error == nil {
			t.Errorf("outcome without ok and error: %s", m.Data)
			return -1, 0, "", ""
		}
		return o.Error.Code, 0, "", ""
	}
	t.Fatalf("no outcome for %s %s", command, req.CommandID)
	return 0, 0, "", ""
}

// matrixStep is one command of the permission/state matrix and the outcome every door must give.
type matrixStep struct {
	what         string
	user, entity string
	command      string
	target, conn string // conn names a connection requested earlier in the run ("P1", ...)
	reason       string
	code         int    // 0: accepted
	requested    string // name to remember the requested connection by
	bodyOnly     bool   // the door must carry the connection id in a body (not a URL path)
	object       string // share, unshare: the object, "<type>/<id>"; target lists the entities, separated by commas
	state        string // a request: the status its answer must carry where the door answers one
}

var matrix = []matrixStep{
	{"request", "root", "global", "RequestConnection", "eu", "", "", 0, "P1", false, "", "Pending"},
	{"rule 2: request while pending", "root", "global", "RequestConnection", "eu", "", "", 53000030, "", false, "", ""},
	{"not an admin of the source", "viv", "global", "RequestConnection", "us", "", "", 53000010, "", false, "", ""},
	{"no access to the target", "sam", "us", "RequestConnection", "eu", "", "", 53000010, "", false, "", ""},
	{"no access to the acting entity", "eve", "global", "RequestConnection", "us", "", "", 53000010, "", false, "", ""},
	{"rule 1: to itself", "root", "global", "RequestConnection", "global", "", "", 53000020, "", false, "", ""},
	{"rule 1: unknown target, answered as no access", "root", "global", "RequestConnection", "mars", "", "", 53000010, "", false, "", ""},
	{"target id not subject-safe", "root", "global", "RequestConnection", "eu.*", "", "", 53000020, "", false, "", ""},
	{"missing target", "root", "global", "RequestConnection", "", "", "", 53000022, "", false, "", ""},
	{"the source cannot accept", "root", "global", "AcceptConnection", "", "P1", "", 53000010, "", false, "", ""},
	{"a non-admin of the target cannot accept", "viv", "eu", "AcceptConnection", "", "P1", "", 53000010, "", false, "", ""},
	{"a third entity does not see it", "sam", "us", "AcceptConnection", "", "P1", "", 53000040, "", false, "", ""},
	{"connection id not a UUID", "eve", "eu", "AcceptConnection", "", "not-a-uuid", "", 53000020, "", false, "", ""},
	{"missing connection id", "eve", "eu", "AcceptConnection", "", "-", "", 53000022, "", true, "", ""},
	{"the target cannot cancel", "eve", "eu", "CancelConnection", "", "P1", "", 53000010, "", false, "", ""},
	{"rule 3: disconnect a pending one", "eve", "eu", "DisconnectConnection", "", "P1", "", 53000030, "", false, "", ""},
	{"accept", "eve", "eu", "AcceptConnection", "", "P1", "", 0, "", false, "", ""},
	{"rule 3: accept twice", "eve", "eu", "AcceptConnection", "", "P1", "", 53000030, "", false, "", ""},
	{"share over the Connected connection", "root", "global", "ShareObject", "eu", "", "", 0, "", false, "Product/P-1", ""},
	{"share again: a success that stores nothing", "root", "global", "ShareObject", "eu", "", "", 0, "", false, "Product/P-1", ""},
	{"a non-admin cannot share", "viv", "global", "ShareObject", "eu", "", "", 53000010, "", false, "Product/P-2", ""},
	{"no access to the acting entity to share", "sam", "global", "ShareObject", "eu", "", "", 53000010, "", false, "Product/P-2", ""},
	{"rule 6: the target shares back without a connection", "eve", "eu", "ShareObject", "global", "", "", 53000030, "", false, "Product/P-2", ""},
	{"rule 6: all targets or none", "root", "global", "ShareObject", "eu,us", "", "", 53000030, "", false, "Product/P-2", ""},
	{"share with the acting entity", "root", "global", "ShareObject", "global", "", "", 53000020, "", false, "Product/P-2", ""},
	{"malformed object type", "root", "global", "ShareObject", "eu", "", "", 53000020, "", false, "product/P-2", ""},
	{"no entity to share with", "root", "global", "ShareObject", "", "", "", 53000022, "", false, "Product/P-2", ""},
	{"a non-admin cannot unshare", "viv", "global", "UnshareObject", "eu", "", "", 53000010, "", false, "Product/P-1", ""},
	{"unshare what is not shared", "root", "global", "UnshareObject", "eu", "", "", 53000030, "", false, "Product/P-2", ""},
	{"unshare", "root", "global", "UnshareObject", "eu", "", "", 0, "", false, "Product/P-1", ""},
	{"share before the disconnection", "root", "global", "ShareObject", "eu", "", "", 0, "", false, "Product/P-1", ""},
	{"a non-admin cannot disconnect", "viv", "eu", "DisconnectConnection", "", "P1", "", 53000010, "", false, "", ""},
	{"the source disconnects, which ends the share", "root", "global", "DisconnectConnection", "", "P1", "over", 0, "", false, "", ""},
	{"rule 6: no share over a Disconnected connection", "root", "global", "ShareObject", "eu", "", "", 53000030, "", false, "Product/P-1", ""},
	{"rule 2: a new request after a terminal state", "root", "global", "RequestConnection", "eu", "", "", 0, "P2", false, "", "Pending"},
	{"deny", "eve", "eu", "DenyConnection", "", "P2", "not now", 0, "", false, "", ""},
	{"rule 3: cancel a denied one", "root", "global", "CancelConnection", "", "P2", "", 53000030, "", false, "", ""},
	{"request again", "root", "global", "RequestConnection", "eu", "", "", 0, "P3", false, "", "Pending"},
	{"cancel", "root", "global", "CancelConnection", "", "P3", "", 0, "", false, "", ""},
	{"rule 3: deny a cancelled one", "eve", "eu", "DenyConnection", "", "P3", "", 53000030, "", false, "", ""},
	{"rule 3: an old connection stays terminal", "eve", "eu", "AcceptConnection", "", "P2", "", 53000030, "", false, "", ""},
	{"a user, not an admin, cannot change the settings", "viv", "eu", "ChangeSharingSettings", "global", "", "", 53000010, "", false, "", ""},
	{"no access to the acting entity to change its settings", "sam", "eu", "ChangeSharingSettings", "global", "", "", 53000010, "", false, "", ""},
	{"settings naming the acting entity", "eve", "eu", "ChangeSharingSettings", "eu", "", "", 53000020, "", false, "", ""},
	{"settings with * beside an entity", "eve", "eu", "ChangeSharingSettings", "*,global", "", "", 53000020, "", false, "", ""},
	{"eu accepts global's requests at once", "eve", "eu", "ChangeSharingSettings", "global", "", "", 0, "", false, "", ""},
	{"a request from global is Connected at once", "root", "global", "RequestConnection", "eu", "", "", 0, "P4", false, "", "Connected"},
	{"rule 3: accept an auto-accepted one", "eve", "eu", "AcceptConnection", "", "P4", "", 53000030, "", false, "", ""},
	{"a request from another source stays Pending", "root", "us", "RequestConnection", "eu", "", "", 0, "P5", false, "", "Pending"},
	{"the auto-accepted one is Connected: eu disconnects it", "eve", "eu", "DisconnectConnection", "", "P4", "", 0, "", false, "", ""},
	{"eu accepts no request at once", "eve", "eu", "ChangeSharingSettings", "", "", "", 0, "", false, "", ""},
	{"a request from global is Pending again", "root", "global", "RequestConnection", "eu", "", "", 0, "P6", false, "", "Pending"},
}

// matrixEvents is how many events the matrix appends: 3 requests, accept, disconnect, deny,
// cancel, and of Product P-1 a share, an unshare, a share again and its end with the
// disconnection; then two changes of eu's settings, a request accepted at once (two events),
// two more requests and a disconnection.
const matrixEvents = 11 + 7

// statusOf is the HTTP status that goes with a Zuora code (contract §4).
func statusOf(code int) int {
	return map[int]int{0: 200, 10: 403, 11: 401, 20: 400, 21: 400, 22: 400, 30: 409, 40: 404, 50: 409, 90: 400}[code%100]
}

// runMatrix runs the matrix through d against a fresh service s.
func runMatrix(t *testing.T, s *service, d door) {
	ids := map[string]string{}
	for _, step := range matrix {
		if _, rest := d.(*restDoor); rest && step.bodyOnly {
			continue // a REST path cannot name an empty connection id
		}
		req := natsapi.Request{TargetEntityID: step.target, Reason: step.reason}
		if step.command == "ChangeSharingSettings" {
			from := []string{}
			if step.target != "" {
				from = strings.Split(step.target, ",")
			}
			req.TargetEntityID, req.AutoAcceptFrom = "", &from
		}
		if step.object != "" {
			req.TargetEntityID = ""
			req.ObjectType, req.ObjectID, _ = strings.Cut(step.object, "/")
			targets := []string{}
			if step.target != "" {
				targets = strings.Split(step.target, ",")
			}
			if step.command == "ShareObject" {
				req.ToEntityIDs = targets
			} else {
				req.FromEntityIDs = targets
			}
		}
		switch step.conn {
		case "":
		case "-":
			req.ConnectionID = ""
		default:
			req.ConnectionID = step.conn
			if id, ok := ids[step.conn]; ok {
				req.ConnectionID = id
			}
		}
		code, status, id, state := d.send(t, step.user, step.entity, step.command, req)
		if code != step.code {
			t.Errorf("%s: %s: %s by %s in %s = code %d, want %d", d.name(), step.what, step.command, step.user, step.entity, code, step.code)
		}
		if status != 0 && status != statusOf(step.code) {
			t.Errorf("%s: %s: status %d, want %d", d.name(), step.what, status, statusOf(step.code))
		}
		if _, durable := d.(*durableDoor); step.state != "" && !durable && state != step.state {
			t.Errorf("%s: %s: the answer's status is %q, want %s", d.name(), step.what, state, step.state)
		}
		if step.requested != "" {
			if id == "" {
				t.Fatalf("%s: %s: no connection id", d.name(), step.what)
			}
			ids[step.requested] = id
		}
	}
	if n := eventCount(t, s.js(), ""); n != matrixEvents {
		t.Errorf("%s: the matrix appended %d events, want %d", d.name(), n, matrixEvents)
	}
}

func TestPermissionStateMatrixOnEveryDoor(t *testing.T) {
	t.Parallel()
	doors := []func(s *service) door{
		func(s *service) door { return &restDoor{s: s, tokens: map[string]string{}} },
		func(s *service) door { return &microDoor{nc: s.connect("svc")} },
		func(s *service) door {
			return &durableDoor{nc: s.connect("svc"), rest: &restDoor{s: s, tokens: map[string]string{}}}
		},
	}
	for _, mk := range doors {
		s := startService(t)
		d := mk(s)
		t.Run(d.name(), func(t *testing.T) { runMatrix(t, s, d) })
	}
}

// TestDoorsReadBodiesAlike sends the same bad request bodies through every door: each door
// reads them alike (contract §4's categories: unknown field 21, malformed 90, a value of the
// wrong type 20), and none appends an event.
func TestDoorsReadBodiesAlike(t *testing.T) {
	t.Parallel()
	s := startService(t)
	root := s.token("root")
	svc := s.connect("") // the service's identity reads every outcome subject
	outcomes, err := svc.SubscribeSync("entityconn.outcomes.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Flush(); err != nil {
		t.Fatal(err)
	}
	nc := s.connect("root")
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	before := eventCount(t, s.js(), "")
	cases := []struct {
		name string
		body string // a request body of REST; NATS bodies add "entityId":"global" when it is an object
		code int
	}{
		{"unknown field", `{"targetEntityId":"eu","target":"eu"}`, 53000021},
		{"not JSON", `{"targetEntityId":`, 53000090},
		{"not an object", `["eu"]`, 53000090},
		{"data after the object", `{"targetEntityId":"eu"} {}`, 53000090},
		{"a value of the wrong type", `{"targetEntityId":7}`, 53000020},
	}
	for i, c := range cases {
		natsBody := c.body
		if rest, ok := strings.CutPrefix(c.body, "{"); ok && strings.Contains(c.body, ":") {
			natsBody = `{"entityId":"global",` + rest
		}
		t.Run(c.name, func(t *testing.T) {
			if r := s.call("POST", "/v1/entity-connections", root, "global", c.body); r.reasonCode() != c.code || r.Status != statusOf(c.code) {
				t.Errorf("REST %s = %d code %d, want %d code %d", c.body, r.Status, r.reasonCode(), statusOf(c.code), c.code)
			}

			msg, err := nc.Request(natsapi.Subject("root", "request"), []byte(natsBody), 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			var body struct {
				Reasons []struct {
					Code int `json:"code"`
				} `json:"reasons"`
			}
			_ = json.Unmarshal(msg.Data, &body)
			if st := msg.Header.Get("Nats-Service-Error-Code"); st != strconv.Itoa(statusOf(c.code)) || len(body.Reasons) != 1 || body.Reasons[0].Code != c.code {
				t.Errorf("NATS request/reply %s = status %q, %s; want %d code %d", natsBody, st, msg.Data, statusOf(c.code), c.code)
			}

			id := fmt.Sprintf("bad-body-%d", i)
			m := nats.NewMsg(natscmd.CommandSubject("root", "RequestConnection"))
			m.Data = []byte(natsBody)
			m.Header.Set(nats.MsgIdHdr, id)
			if _, err := js.PublishMsg(t.Context(), m); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(15 * time.Second)
			for {
				om, err := outcomes.NextMsg(time.Until(deadline))
				if err != nil {
					t.Fatalf("NATS durable commands %s: no outcome for %s: %v", natsBody, id, err)
				}
				var o natscmd.Outcome
				if json.Unmarshal(om.Data, &o) != nil || o.CommandID != id {
					continue
				}
				if o.OK || o.Error == nil || o.Error.Code != c.code {
					t.Errorf("NATS durable commands %s = %s, want code %d", natsBody, om.Data, c.code)
				}
				break
			}
		})
	}
	if after := eventCount(t, s.js(), ""); after != before {
		t.Errorf("bad bodies appended %d events", after-before)
	}
}
