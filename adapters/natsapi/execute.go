package natsapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/wire"
	"github.com/entityconn/entityconn/adapters/zuora"
	"github.com/entityconn/entityconn/domain"
)

// Outcome is the result of a command as the NATS doors report it: an HTTP-like status, the
// same JSON body as REST (a success body or the Zuora error body), and on success the
// connection id and the stream sequence of the event.
type Outcome struct {
	Status       int             `json:"status"`
	Body         json.RawMessage `json:"body"`
	ConnectionID string          `json:"connectionId,omitempty"`
	Sequence     uint64          `json:"sequence,omitempty"`
	// Code and Message are the Zuora error code and message of a failure.
	Code    int    `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	// Replayed is true when the outcome is the recorded first outcome of the command id.
	Replayed bool `json:"-"`
}

// OK reports whether the command was accepted.
func (o Outcome) OK() bool { return o.Status < 300 }

// Executor runs commands that arrive on NATS: the service decides, and the first outcome of
// each command id is recorded (for 24 h) and replayed to retries (rule 5). Safe for
// concurrent use.
type Executor struct {
	Service  *app.Service
	Outcomes app.Outcomes
}

// Execute runs the command name ("RequestConnection", ...) that r describes, for user, the
// user its subject names. It never fails: every error becomes an outcome with its status and
// Zuora body. processID names the attempt in error bodies.
func (x *Executor) Execute(ctx context.Context, name, user string, r Request, processID string) Outcome {
	p, err := r.Principal(user)
	if err != nil {
		return Failure(processID, err)
	}
	cmd, err := r.Command(name)
	if err != nil {
		return Failure(processID, err)
	}
	id := app.CommandID{Door: app.DoorNATS, Key: r.CommandID}
	if id.Key == "" {
		o, _ := x.run(ctx, p, id, cmd, processID)
		return o
	}
	replay, claim, err := x.Outcomes.Begin(ctx, id.Scope(p.UserID), id.Key, fingerprint(name, p, cmd))
	if err != nil {
		return Failure(processID, err)
	}
	if replay != nil {
		var o Outcome
		if err := json.Unmarshal(replay, &o); err == nil {
			o.Replayed = true
			return o
		}
	}
	defer func() {
		// A panic is a bug, not an outcome: give the key up, so that a retry is not told
		// "in flight" until the claim goes stale, and let the door report the panic.
		if p := recover(); p != nil {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = claim.Release(rctx)
			cancel()
			panic(p)
		}
	}()
	id.Retry = claim.Retry()
	o, err := x.run(ctx, p, id, cmd, processID)
	for err != nil && !zuora.Transient(err) && claim.EarlierMayRun() {
		// A refusal while an earlier attempt may still store the event: wait it out and
		// decide again (which finds that attempt's event), or answer 503 if there is no time.
		if !claim.WaitEarlier(ctx) {
			err = app.ErrEarlierAttempt
			o = Failure(processID, err)
			break
		}
		o, err = x.run(ctx, p, id, cmd, processID)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if o.Status >= 500 || zuora.Transient(err) {
		_ = claim.Release(rctx) // "not now" is not an outcome to replay
	} else if data, err := json.Marshal(o); err == nil {
		if err := claim.Complete(rctx, data); err != nil && !o.OK() {
			// A refusal is the command id's answer only once it is its recorded first
			// outcome: another attempt may have taken the id over (this one outlived its
			// lease) and stored the command's event. The retry gets the recorded outcome.
			return Failure(processID, fmt.Errorf("%w: the outcome could not be recorded for the command id; retry with the same id: %w", app.ErrUnavailable, err))
		}
	}
	return o
}

func (x *Executor) run(ctx context.Context, p app.Principal, id app.CommandID, cmd domain.Command, processID string) (Outcome, error) {
	res, err := x.Service.Execute(ctx, p, id, cmd)
	if err != nil {
		return Failure(processID, err), err
	}
	var body any = wire.Done{Success: true}
	if _, ok := cmd.(domain.RequestConnection); ok {
		body = wire.Requested{ID: res.ConnectionID, Success: true}
	}
	data, _ := json.Marshal(body)
	return Outcome{Status: http.StatusOK, Body: data, ConnectionID: res.ConnectionID, Sequence: res.Sequence}, nil
}

// Failure returns the outcome of err: its status and Zuora error body.
func Failure(processID string, err error) Outcome {
	status, body := zuora.Error(processID, err)
	data, _ := json.Marshal(body)
	return Outcome{Status: status, Body: data, Code: body.Reasons[0].Code, Message: body.Reasons[0].Message}
}

func fingerprint(name string, p app.Principal, cmd domain.Command) string {
	content, _ := json.Marshal(cmd)
	h := sha256.Sum256(content)
	return name + " " + p.EntityID + " " + hex.EncodeToString(h[:])
}
