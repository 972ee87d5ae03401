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

// Answers a retry may change are never recorded as a command's first outcome.
func TestTransientAnswersAreNotOutcomes(t *testing.T) {
	for _, err := range []error{app.ErrContended, natsjs.ErrInFlight, natsjs.ErrEarlierAttempt, fmt.Errorf("%w: x", app.ErrUnavailable), fmt.Errorf("x: %w", nats.ErrTimeout)} {
		if !zuora.Transient(err) {
			t.Errorf("Transient(%v) = false, want true", err)
		}
	}
	for _, err := range []error{natsjs.ErrKeyReused, natsjs.ErrConcurrentChange, errors.New("a bug")} {
		if zuora.Transient(err) {
			t.Errorf("Transient(%v) = true, want false", err)
		}
	}
}
