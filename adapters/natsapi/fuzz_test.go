package natsapi_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/entityconn/entityconn/adapters/natsapi"
	"github.com/entityconn/entityconn/adapters/zuora"
	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events/contract"
	"github.com/entityconn/entityconn/projections"
)

// FuzzRequest feeds a NATS request body, as the micro service and the durable command door
// receive it, through everything that reads it before the service runs: Decode, then
// Principal, Command for every command name (an unknown one and the settings change too)
// with the check of a share's object and entities, ListQuery, whose query is validated and
// paged, and SharedQuery. Nothing may panic, and every refusal must be the caller's fault: a
// 4xx in the error table, never an internal error.
//
// Run it with: go test -run='^$' -fuzz=FuzzRequest -fuzztime=30s ./adapters/natsapi/
func FuzzRequest(f *testing.F) {
	for _, s := range []string{
		`{"commandId":"c-1","actorUserId":"admin","entityId":"global","targetEntityId":"eu"}`,
		`{"commandId":"c-2","actorUserId":"eu-admin","entityId":"eu","connectionId":"3e443c78-9389-5956-b883-2e1c60ef43cc","reason":"not yet"}`,
		`{"actorUserId":"admin","entityId":"global","type":"outbound","status":"Pending","page":2,"pageSize":300,"minSequence":7}`,
		`{"actorUserId":"admin","entityId":"global","page":4611686018427387905,"pageSize":2}`,
		`{"actorUserId":"admin","entityId":"global","page":-1,"pageSize":-9223372036854775808}`,
		`{"actorUserId":"admin","entityId":"global","page":1000001}`,
		`{"actorUserId":"admin","entityId":"global","page":99999999999999999999}`,
		`{"actorUserId":"admin","entityId":"global","page":1.5}`,
		`{"actorUserId":"admin","entityId":"global","page":"1"}`,
		`{"actorUserId":"admin","entityId":"global","minSequence":-1}`,
		`{"actorUserId":"admin","entityId":"global","type":"sideways","status":"pending"}`,
		`{"actorUserId":null,"entityId":"global","targetEntityId":"eu"}`,
		`{"actorUserId":"admin","entityId":"global","target":"eu"}`,
		`{"actorUserId":"admin","entityId":"global"} {}`,
		`{"ACTORUSERID":"admin","EntityId":"global","targetentityid":"eu"}`,
		`{"commandId":"` + strings.Repeat("k", 300) + `","actorUserId":"a","entityId":"b","connectionId":"c"}`,
		`{"commandId":"s-1","entityId":"global","objectType":"Product","objectId":"P-100","toEntityIds":["eu","us"]}`,
		`{"commandId":"u-1","entityId":"global","objectType":"AccountingPeriod","objectId":"2026-11","fromEntityIds":["eu"]}`,
		`{"entityId":"global","objectType":"Product","objectId":"P-1","toEntityIds":["eu"],"fromEntityIds":["us"]}`,
		`{"entityId":"global","objectType":"product","objectId":"P.1","toEntityIds":[]}`,
		`{"entityId":"global","objectType":"Product","objectId":"P-1","toEntityIds":null}`,
		`{"entityId":"global","objectType":"Product","objectId":"P-1","toEntityIds":"eu"}`,
		`{"entityId":"global","objectType":"Product","objectId":"P-1","fromEntityIds":[1,null]}`,
		`{"entityId":"global","direction":"sharedBy","objectType":"Product","page":2,"pageSize":300,"minSequence":7}`,
		`{"entityId":"global","direction":"sharedWith"}`,
		`{"entityId":"global","direction":"both","objectType":"` + strings.Repeat("P", 100) + `"}`,
		`{"commandId":"set-1","entityId":"eu","autoAcceptFrom":["global","us"]}`,
		`{"entityId":"eu","autoAcceptFrom":["*"]}`,
		`{"entityId":"eu","autoAcceptFrom":[]}`,
		`{"entityId":"eu","autoAcceptFrom":null}`,
		`{"entityId":"eu","autoAcceptFrom":"global"}`,
		`{"entityId":"global","type":"outbound","asOf":"2026-11-27T10:00:00.5Z"}`,
		`{"entityId":"global","direction":"sharedWith","asOf":"2026-11-27T10:00:00+01:00"}`,
		`{"entityId":"global","asOf":"yesterday"}`,
		`{"entityId":"global","asOf":""}`,
		`[]`, `null`, `""`, `{}`, ``, `   `, `{"actorUserId":`, "\xff",
	} {
		f.Add([]byte(s))
	}
	names := []string{"RenameConnection", "", contract.CommandChangeSharingSettings}
	for _, n := range natsapi.Commands {
		names = append(names, n)
	}
	views := make([]projections.View, 40)
	shares := make([]projections.Share, 40)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := natsapi.Decode(data)
		if err != nil {
			mustBeCallersFault(t, "Decode", data, err)
			return
		}
		if _, err := r.Principal("root"); err != nil {
			mustBeCallersFault(t, "Principal", data, err)
		}
		for _, name := range names {
			cmd, err := r.Command(name)
			if err != nil {
				mustBeCallersFault(t, "Command("+name+")", data, err)
			} else if cmd == nil {
				t.Fatalf("Command(%s) of %q = nil, nil", name, data)
			}
			// The service checks a share's object and entities first of all.
			var checked error
			switch c := cmd.(type) {
			case domain.ShareObject:
				checked = domain.CheckObject(c.Object, c.Targets, "toEntityIds")
			case domain.UnshareObject:
				checked = domain.CheckObject(c.Object, c.Targets, "fromEntityIds")
			}
			if checked != nil {
				mustBeCallersFault(t, "CheckObject of Command("+name+")", data, checked)
			}
		}
		if sq, err := r.SharedQuery(); err != nil {
			mustBeCallersFault(t, "SharedQuery", data, err)
		} else if sq.Direction != "" && sq.Direction != projections.SharedBy && sq.Direction != projections.SharedWith {
			t.Fatalf("SharedQuery of %q: direction %q", data, sq.Direction)
		} else if items, _ := projections.Page(shares, sq.Page, sq.PageSize); sq.PageSize > 0 && len(items) > sq.PageSize {
			t.Fatalf("Page(%d, %d) of shares = %d items", sq.Page, sq.PageSize, len(items))
		}
		q, err := r.ListQuery()
		if err == nil {
			err = q.Validate()
		}
		if err != nil {
			mustBeCallersFault(t, "ListQuery", data, err)
			return
		}
		if items, _ := projections.Page(views, q.Page, q.PageSize); len(items) > q.PageSize {
			t.Fatalf("Page(%d, %d) = %d items", q.Page, q.PageSize, len(items))
		}
	})
}

// mustBeCallersFault fails unless err maps to a 4xx status with a Zuora category other than
// internal.
func mustBeCallersFault(t *testing.T, what string, data []byte, err error) {
	t.Helper()
	status, code := zuora.Classify(err)
	if status < 400 || status > 499 || code == zuora.CodeBase+zuora.CategoryInternal {
		t.Fatalf("%s of %q = %v: status %d code %d, want a 4xx", what, data, err, status, code)
	}
	if errors.Unwrap(err) == nil {
		t.Fatalf("%s of %q = %v: an error of no family", what, data, err)
	}
}
