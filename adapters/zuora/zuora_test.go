package zuora_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/adapters/zuora"
	"github.com/entityconn/entityconn/domain"
)

// What NATS raises when it cannot serve a request now is 503, category 61, wherever it
// comes from; only an error of no family at all is 500.
func TestFaultsAreUnavailableNotInternal(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("%w: %w", app.ErrUnavailable, errors.New("anything")),
		fmt.Errorf("natsjs: idempotency record: %w", nats.ErrTimeout),
		fmt.Errorf("natsjs: idempotency record: %w", context.DeadlineExceeded),
		fmt.Errorf("read: %w", nats.ErrNoResponders),
		fmt.Errorf("read: %w", nats.ErrConnectionClosed),
		fmt.Errorf("read: %w", jetstream.ErrNoStreamResponse),
		fmt.Errorf("append: %w", &jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}),
		fmt.Errorf("append: %w", &jetstream.APIError{Code: 409, ErrorCode: 10158, Description: "duplicate message id is in process"}),
		fmt.Errorf("setup: %w", &jetstream.APIError{Code: 400, ErrorCode: 10005, Description: "no suitable peers for placement, peer offline"}),
	} {
		if status, code := zuora.Classify(err); status != http.StatusServiceUnavailable || code != zuora.CodeBase+zuora.CategoryUnavailable {
			t.Errorf("Classify(%v) = %d, %d; want 503, %d", err, status, code, zuora.CodeBase+zuora.CategoryUnavailable)
		}
	}
	if status, code := zuora.Classify(errors.New("a bug")); status != http.StatusInternalServerError || code != zuora.CodeBase+zuora.CategoryInternal {
		t.Errorf("Classify(unknown) = %d, %d; want 500", status, code)
	}
	if status, _ := zuora.Classify(natsjs.ErrInFlight); status != http.StatusConflict {
		t.Errorf("Classify(ErrInFlight) = %d, want 409", status)
	}
}

// Answers a retry may change are of kind Retry: never recorded as a command's first outcome,
// and retried by the durable door; refusals are the command's outcome; a malformed command
// is set aside.
func TestKinds(t *testing.T) {
	for _, err := range []error{app.ErrContended, natsjs.ErrInFlight, natsjs.ErrEarlierAttempt, fmt.Errorf("%w: x", app.ErrUnavailable), fmt.Errorf("x: %w", nats.ErrTimeout), errors.New("a bug")} {
		if k := zuora.KindOf(err); k != zuora.Retry {
			t.Errorf("KindOf(%v) = %v, want Retry", err, k)
		}
	}
	for _, err := range []error{domain.ErrAlreadyLive, domain.ErrConnectionNotFound, domain.ErrNotAdmin, domain.ErrUnauthenticated, zuora.ErrTooManyRequests} {
		if k := zuora.KindOf(err); k != zuora.Refusal {
			t.Errorf("KindOf(%v) = %v, want Refusal", err, k)
		}
	}
	for _, err := range []error{natsjs.ErrKeyReused, domain.ErrSameEntity, domain.ErrMissingValue, zuora.ErrBodyTooLarge, zuora.ErrUnknownField, zuora.ErrMalformed, zuora.ErrUnsupportedMediaType} {
		if k := zuora.KindOf(err); k != zuora.Malformed {
			t.Errorf("KindOf(%v) = %v, want Malformed", err, k)
		}
	}
	// An answer read back without its error has the kind of its row.
	for _, row := range zuora.Table() {
		if got := zuora.KindOf(zuora.ErrorOf(row.Status, zuora.CodeBase+row.Category)); got != row.Kind {
			t.Errorf("KindOf(ErrorOf(%d, %d)) = %v, want %v (%v)", row.Status, row.Category, got, row.Kind, row.Err)
		}
	}
}

// Every door reads a body with DecodeJSON: each kind of bad body has its family, and so its
// category (contract §4: unknown field 21, malformed 90, a value of the wrong type 20).
func TestDecodeJSON(t *testing.T) {
	type body struct {
		Target *string  `json:"targetEntityId"`
		IDs    []string `json:"toEntityIds"`
	}
	cases := []struct {
		data string
		want error // nil: decoded
	}{
		{`{"targetEntityId":"eu"}`, nil},
		{`  {"targetEntityId":"eu"} ` + "\n", nil},
		{`{"TargetEntityID":"eu"}`, nil}, // names match case-insensitively
		{`{}`, nil},
		{`null`, nil},
		{`{"target":"eu"}`, zuora.ErrUnknownField},
		{`{"targetEntityId":"eu","x":1}`, zuora.ErrUnknownField},
		{`{"targetEntityId":`, zuora.ErrMalformed},
		{`{"targetEntityId":"eu",}`, zuora.ErrMalformed},
		{`not json`, zuora.ErrMalformed},
		{`["eu"]`, zuora.ErrMalformed},
		{`"eu"`, zuora.ErrMalformed},
		{`{"targetEntityId":"eu"} {}`, zuora.ErrMalformed},
		{`{"targetEntityId":"eu"}}`, zuora.ErrMalformed},
		{`{"targetEntityId":"eu"} x`, zuora.ErrMalformed},
		{`{"targetEntityId":1}`, domain.ErrInvalidValue},
		{`{"toEntityIds":"eu"}`, domain.ErrInvalidValue},
		{`{"toEntityIds":[1]}`, domain.ErrInvalidValue},
	}
	for _, c := range cases {
		var b body
		err := zuora.DecodeJSON([]byte(c.data), &b)
		switch {
		case c.want == nil && err != nil:
			t.Errorf("DecodeJSON(%s) = %v, want no error", c.data, err)
		case c.want != nil && !errors.Is(err, c.want):
			t.Errorf("DecodeJSON(%s) = %v, want %v", c.data, err, c.want)
		}
	}
	var b body
	if err := zuora.DecodeJSON([]byte(`{"targetEntityId":"eu"}`), &b); err != nil || b.Target == nil || *b.Target != "eu" {
		t.Errorf("DecodeJSON = %+v, %v; want targetEntityId eu", b, err)
	}
	for data, wantStatus := range map[string]int{`{"x":1}`: 400, `[1]`: 400} {
		err := zuora.DecodeJSON([]byte(data), &b)
		if status, code := zuora.Classify(err); status != wantStatus || (code != zuora.CodeBase+zuora.CategoryUnknownField && code != zuora.CodeBase+zuora.CategoryMalformed) {
			t.Errorf("Classify(DecodeJSON(%s)) = %d, %d", data, status, code)
		}
	}
}
