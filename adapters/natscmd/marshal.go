package natscmd

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/entityconn/entityconn/adapters/natsapi"
	"github.com/entityconn/entityconn/events/contract"
)

// envelope is a command as the CQRS processor hands it over: the decoded request, or why the
// body could not be decoded. Decoding never fails the message, so that a malformed body
// gets its outcome and goes to the poison stream instead of being nacked.
type envelope struct {
	req natsapi.Request
	err error
}

func (e *envelope) env() *envelope { return e }

// The commands of contract §1 and §7, one type each: the command processor tells commands
// apart by type name and subscribes each to its own topic, the command's subject.
type (
	requestConnection    struct{ envelope }
	acceptConnection     struct{ envelope }
	denyConnection       struct{ envelope }
	cancelConnection     struct{ envelope }
	disconnectConnection struct{ envelope }
	shareObject          struct{ envelope }
	unshareObject        struct{ envelope }
)

func (requestConnection) commandName() string    { return contract.CommandRequestConnection }
func (acceptConnection) commandName() string     { return contract.CommandAcceptConnection }
func (denyConnection) commandName() string       { return contract.CommandDenyConnection }
func (cancelConnection) commandName() string     { return contract.CommandCancelConnection }
func (disconnectConnection) commandName() string { return contract.CommandDisconnectConnection }
func (shareObject) commandName() string          { return contract.CommandShareObject }
func (unshareObject) commandName() string        { return contract.CommandUnshareObject }

type command interface {
	commandName() string
	env() *envelope
}

// commandHandler returns the CQRS handler of the command type C.
func commandHandler[C any, PC interface {
	*C
	command
}](d *Door) cqrs.CommandHandler {
	var zero C
	name := PC(&zero).commandName()
	return cqrs.NewCommandHandler("entityconn.commands."+name, func(ctx context.Context, c *C) error {
		return d.handle(ctx, name, PC(c).env())
	})
}

// commandMarshaler is the CQRS marshaler of the door: plain JSON bodies (natsapi.Request),
// the command name in the metadata "name" as cqrs.JSONMarshaler has it.
type commandMarshaler struct{}

var _ cqrs.CommandEventMarshaler = commandMarshaler{}

// Marshal returns the message of a command, for a Watermill command bus.
func (commandMarshaler) Marshal(v any) (*message.Message, error) {
	c, ok := v.(command)
	if !ok {
		return nil, fmt.Errorf("natscmd: %T is not a command", v)
	}
	data, err := json.Marshal(c.env().req)
	if err != nil {
		return nil, err
	}
	id := c.env().req.CommandID
	if id == "" {
		id = watermill.NewUUID()
	}
	msg := message.NewMessage(id, data)
	msg.Metadata.Set(metaName, c.commandName())
	return msg, nil
}

// Unmarshal decodes the body into v strictly (natsapi.Decode). A body that does not decode
// is kept as the command's error rather than returned: see envelope.
func (commandMarshaler) Unmarshal(msg *message.Message, v any) error {
	c, ok := v.(command)
	if !ok {
		return fmt.Errorf("natscmd: %T is not a command", v)
	}
	e := c.env()
	e.req, e.err = natsapi.Decode(msg.Payload)
	return nil
}

// Name returns the command name of v ("RequestConnection", ...).
func (commandMarshaler) Name(v any) string {
	if c, ok := v.(command); ok {
		return c.commandName()
	}
	return cqrs.FullyQualifiedStructName(v)
}

// NameFromMessage returns the command name the subscriber put in the metadata.
func (commandMarshaler) NameFromMessage(msg *message.Message) string {
	return msg.Metadata.Get(metaName)
}
