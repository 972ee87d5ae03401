package natsclient

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/nats-io/nats.go"
)

func TestWindowForgetsTheOldest(t *testing.T) {
	w := newWindow(3)
	for _, id := range []string{"a", "b", "c", "c", "d"} {
		w.add(id)
	}
	for id, want := range map[string]bool{"a": false, "b": true, "c": true, "d": true, "e": false} {
		if got := w.has(id); got != want {
			t.Errorf("has(%s) = %v, want %v", id, got, want)
		}
	}
}

func TestDirections(t *testing.T) {
	var got []string
	for _, d := range directions("eu") {
		got = append(got, d.filter+" "+d.suffix)
	}
	if want := []string{"entityconn.events.eu.> out", "entityconn.events.*.eu.* in"}; !slices.Equal(got, want) {
		t.Errorf("directions(eu) = %q, want %q", got, want)
	}
}

func TestReplyError(t *testing.T) {
	ok := &nats.Msg{Data: []byte(`{"id":"x","success":true}`)}
	if e := replyError(ok, ""); e != nil {
		t.Errorf("replyError(success) = %v, want nil", e)
	}
	msg := &nats.Msg{Header: nats.Header{}, Data: []byte(`{"success":false,"processId":"p1","reasons":[{"code":53000040,"message":"no such connection"},{"code":53000020,"message":"and more"}]}`)}
	msg.Header.Set(headerServiceErrorCode, "404")
	msg.Header.Set(headerServiceError, "no such connection")
	e := replyError(msg, "c1")
	want := &Error{Status: 404, Code: 53000040, Message: "no such connection; and more", ProcessID: "p1", CommandID: "c1"}
	if e == nil || *e != *want || !errors.Is(e, ErrNotFound) || errors.Is(e, ErrInvalid) {
		t.Errorf("replyError(404) = %+v, want %+v matching ErrNotFound only", e, want)
	}
	if got := fmt.Sprint(e); got != "no such connection; and more (status 404, code 53000040)" {
		t.Errorf("Error() = %q", got)
	}
	// Only the headers: the status names the family.
	bare := &nats.Msg{Header: nats.Header{}}
	bare.Header.Set(headerServiceErrorCode, "403")
	bare.Header.Set(headerServiceError, "forbidden")
	if e := replyError(bare, ""); e == nil || e.Message != "forbidden" || !errors.Is(e, ErrPermission) {
		t.Errorf("replyError(403, no body) = %+v; want ErrPermission with the header's message", e)
	}
}
