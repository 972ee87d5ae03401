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
	for _, err := range []error{natsjs.ErrKeyReused, domain.ErrSameEntity, domain.ErrMissingValue, zuora.ErrBodyTooLarge} {
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
