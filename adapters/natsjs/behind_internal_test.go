package natsjs

import (
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/natserr"
)

// A "wrong last sequence" naming a sequence before the one the append expected can only come
// from a server behind the leader: it is asked again (Unavailable), not taken as a change.
func TestBehindExpectation(t *testing.T) {
	wrong := func(code jetstream.ErrorCode, desc string) error {
		return fmt.Errorf("publish: %w", &jetstream.APIError{Code: 400, ErrorCode: code, Description: desc})
	}
	for _, c := range []struct {
		err    error
		expect uint64
		want   bool
	}{
		{wrong(jetstream.JSErrCodeStreamWrongLastSequence, "wrong last sequence: 5"), 7, true},
		{wrong(jetstream.JSErrCodeStreamWrongLastSequence, "wrong last sequence: 0"), 1, true},
		{wrong(jetstream.JSErrCodeStreamWrongLastSequence, "wrong last sequence: 9"), 7, false},
		{wrong(jetstream.JSErrCodeStreamWrongLastSequenceConstant, "wrong last sequence"), 7, false},
		{wrong(jetstream.JSErrCodeStreamWrongLastSequence, "wrong last sequence: x"), 7, false},
		{errors.New("wrong last sequence: 5"), 7, false},
		{nil, 7, false},
	} {
		if got := behindExpectation(c.err, c.expect); got != c.want {
			t.Errorf("behindExpectation(%v, %d) = %v; want %v", c.err, c.expect, got, c.want)
		}
	}
	if !Unavailable(fmt.Errorf("%w: x", natserr.ErrBehind)) {
		t.Error("an answer from a server behind is not Unavailable")
	}
}
