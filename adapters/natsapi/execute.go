package natsapi

import (
	"context"
	"encoding/json"
	"net/http"

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
	// Err is the error of a failure, for the doors to decide with errors.Is what to do
	// ([zuora.KindOf]); nil for a success, and for an outcome decoded from JSON.
	Err error `json:"-"`
}

// OK reports whether the command was accepted.
func (o Outcome) OK() bool { return o.Status < 300 }

// Executor runs commands that arrive on NATS through the service, which records the first
// outcome of each command id (for 24 h) and replays it to retries (rule 5). Safe for
// concurrent use.
type Executor struct {
	Service *app.Service
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
	res, err := x.Service.Execute(ctx, p, app.CommandID{Door: app.DoorNATS, Key: r.CommandID}, cmd)
	if err != nil {
		o := Failure(processID, err)
		o.Replayed = app.IsRecorded(err)
		return o
	}
	var body any = wire.Done{Success: true}
	if _, ok := cmd.(domain.RequestConnection); ok {
		// Its status: Pending, or Connected when the target's settings accepted it at once.
		body = wire.Requested{ID: res.ConnectionID, Status: string(res.Status), Success: true}
	}
	data, _ := json.Marshal(body)
	return Outcome{Status: http.StatusOK, Body: data, ConnectionID: res.ConnectionID, Sequence: res.Sequence, Replayed: res.FromRecord}
}

// Failure returns the outcome of err: its status and Zuora error body.
func Failure(processID string, err error) Outcome {
	status, body := zuora.Error(processID, err)
	data, _ := json.Marshal(body)
	return Outcome{Status: status, Body: data, Code: body.Reasons[0].Code, Message: body.Reasons[0].Message, Err: err}
}
