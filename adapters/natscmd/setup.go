package natscmd

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/natsapi"
	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
)

// Names of the streams, subjects and consumer of the durable command door (contract §5).
const (
	// StreamCommands holds the commands not handled yet (work-queue retention).
	StreamCommands = "ENTITYCONN_COMMANDS"
	// StreamOutcomes holds one outcome per command for [OutcomeMaxAge].
	StreamOutcomes = "ENTITYCONN_OUTCOMES"
	// StreamPoison holds the commands that can never succeed, for [PoisonMaxAge].
	StreamPoison = "ENTITYCONN_POISON"

	// CommandPrefix starts every command subject: entityconn.commands.<userId>.<CommandName>.
	CommandPrefix = natsapi.CommandPrefix
	// OutcomePrefix starts every outcome subject: entityconn.outcomes.<entityId>.
	OutcomePrefix = natsapi.OutcomePrefix
	// OutcomeAppendPrefix starts the subjects the door publishes outcomes on; the outcome
	// stream stores them under [OutcomePrefix] and republishes them there for live
	// subscribers. Like natsjs.AppendPrefix, it keeps what a user's push consumer delivers to
	// entityconn.outcomes.<entityId> (which the user may subscribe to) out of the stream.
	OutcomeAppendPrefix = "entityconn.store.outcomes"
	// PoisonPrefix starts every poison subject: entityconn.poison.commands.<rest>, where
	// <rest> is whatever followed entityconn.commands. in the original subject
	// (<userId>.<CommandName> for a well-formed one).
	PoisonPrefix = "entityconn.poison.commands"

	// InvalidEntity is the last token of the outcome subject of a command whose entityId is
	// absent or not a valid entity id (^[A-Za-z0-9_-]{1,64}$), e.g. because its body is not
	// JSON: entityconn.outcomes.~invalid. The "~" keeps it apart from every real entity id.
	InvalidEntity = "~invalid"

	// ConsumerName is the durable consumer all replicas share, so that each command is
	// handled by one of them.
	ConsumerName = "entityconn-commands"
)

// Headers of outcome and poison messages.
const (
	// HeaderCommandID carries the command id an outcome or poison message is about.
	HeaderCommandID = "Entityconn-Command-Id"
	// HeaderCommand carries the command name (what followed entityconn.commands.).
	HeaderCommand = "Entityconn-Command"
	// HeaderCorrelationID carries the correlation id, as on events.
	HeaderCorrelationID = events.HeaderCorrelationID
	// HeaderWatermillCorrelationID is the header Watermill's publishers and subscribers map
	// to a message's correlation id; it is read on commands and written on outcomes.
	HeaderWatermillCorrelationID = "correlation_id"
	// HeaderPlainCorrelationID is also accepted on commands.
	HeaderPlainCorrelationID = "Correlation-Id"
	// HeaderPoisonReason says why a command was moved to the poison stream.
	HeaderPoisonReason = "Entityconn-Poison-Reason"
	// HeaderOriginalSubject is the subject a poisoned command was published on.
	HeaderOriginalSubject = "Entityconn-Original-Subject"
)

// Retention of the streams.
const (
	// CommandMaxAge bounds how long an unhandled command waits: as long as a command id's
	// first outcome is replayed (natsjs.IdempotencyWindow).
	CommandMaxAge = 24 * time.Hour
	// OutcomeMaxAge is how long outcomes are kept.
	OutcomeMaxAge = 7 * 24 * time.Hour
	// PoisonMaxAge is how long poisoned commands are kept for inspection.
	PoisonMaxAge = 14 * 24 * time.Hour
	// DuplicateWindow is the de-duplication window of the three streams: a command re-published
	// with the same Nats-Msg-Id, or an outcome re-published after a crash, within it is stored
	// once.
	DuplicateWindow = 2 * time.Minute
)

// maxMessageSize bounds stored messages: a request body plus headers.
const maxMessageSize = natsapi.MaxRequestBytes + 8<<10

// Outcome is the body of an outcome message (contract §5). ConnectionID and Sequence (the
// stream sequence of the command's event) are set when OK; Error is set when not. A refused
// command that named a connection carries its ConnectionID too.
type Outcome struct {
	CommandID    string        `json:"commandId"`
	OK           bool          `json:"ok"`
	ConnectionID string        `json:"connectionId,omitempty"`
	Sequence     uint64        `json:"sequence,omitempty"`
	Error        *OutcomeError `json:"error,omitempty"`
}

// OutcomeError is why a command was refused: the Zuora error code (e.g. 53000030, a rule
// violation) and message, as REST answers them.
type OutcomeError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// CommandSubject returns the subject of command name sent as user:
// entityconn.commands.<user>.<name>.
func CommandSubject(user, name string) string { return CommandPrefix + "." + user + "." + name }

// topicOf returns the Watermill topic of the command name (not a subject: the door routes
// every user's commands of one name to the same handler).
func topicOf(name string) string { return CommandPrefix + "." + name }

// OutcomeSubject returns the subject outcomes of commands acting in entity are published on:
// entityconn.outcomes.<entity>, or entityconn.outcomes.~invalid when entity is not a valid
// entity id.
func OutcomeSubject(entity string) string {
	if !events.ValidID(entity) {
		entity = InvalidEntity
	}
	return OutcomePrefix + "." + entity
}

// PoisonSubject returns the subject a poisoned command is kept on, rest being what followed
// entityconn.commands. in its subject (<userId>.<CommandName> for a well-formed one).
func PoisonSubject(rest string) string { return PoisonPrefix + "." + poisonToken(rest) }

// CommandStreamConfig is the configuration of the command stream. Work-queue retention: an
// acknowledged command is removed, so the stream holds exactly the backlog, and the server
// refuses a second consumer overlapping the door's, which would handle commands twice.
func CommandStreamConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        StreamCommands,
		Description: "entityconn durable commands waiting to be handled (work queue)",
		Subjects:    []string{CommandPrefix + ".>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.WorkQueuePolicy,
		Discard:     jetstream.DiscardNew,
		MaxAge:      CommandMaxAge,
		MaxMsgSize:  maxMessageSize,
		Duplicates:  DuplicateWindow,
		Replicas:    replicas,
	}
}

// OutcomeStreamConfig is the configuration of the outcome stream: limits retention with a
// maximum age, direct gets allowed. It takes messages on [OutcomeAppendPrefix], stores them
// under [OutcomePrefix] and republishes each one there.
func OutcomeStreamConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:             StreamOutcomes,
		Description:      "entityconn outcomes of durable commands, one per command, by acting entity",
		Subjects:         []string{OutcomeAppendPrefix + ".>"},
		SubjectTransform: &jetstream.SubjectTransformConfig{Source: OutcomeAppendPrefix + ".>", Destination: OutcomePrefix + ".>"},
		RePublish:        &jetstream.RePublish{Source: OutcomePrefix + ".>", Destination: OutcomePrefix + ".>"},
		Storage:          jetstream.FileStorage,
		Retention:        jetstream.LimitsPolicy,
		MaxAge:           OutcomeMaxAge,
		Duplicates:       DuplicateWindow,
		AllowDirect:      true,
		// Outcomes published at the same time are stored as one batch (group commit).
		AllowAtomicPublish: true,
		Replicas:           replicas,
	}
}

// PoisonStreamConfig is the configuration of the poison stream: limits retention with a
// maximum age. It is a stream of its own because the command stream's consumer takes every
// subject under entityconn.commands.
func PoisonStreamConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        StreamPoison,
		Description: "entityconn durable commands that can never succeed, with the reason",
		Subjects:    []string{PoisonPrefix + ".>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      PoisonMaxAge,
		MaxMsgSize:  maxMessageSize + 8<<10,
		Duplicates:  DuplicateWindow,
		Replicas:    replicas,
	}
}

// Setup creates or updates the command, outcome and poison streams with the given number of
// replicas (at least 1). It is safe to run from several processes at once. A stream that
// exists with another retention policy cannot be updated to this one: the error says so.
func Setup(ctx context.Context, js jetstream.JetStream, replicas int) error {
	if replicas < 1 {
		replicas = 1
	}
	for _, cfg := range []jetstream.StreamConfig{CommandStreamConfig(replicas), OutcomeStreamConfig(replicas), PoisonStreamConfig(replicas)} {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("natscmd: stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}

// ErrUnknownCommand is returned by [Publish] for a name that is not one of natsapi.Commands.
var ErrUnknownCommand = fmt.Errorf("%w: unknown command", domain.ErrInvalidValue)

// Publish publishes req as command name (e.g. "RequestConnection") sent as user on the command
// stream: a plain JSON body on [CommandSubject](user, name), with Nats-Msg-Id set to
// req.CommandID when there is one, so that publishing the same command again within
// [DuplicateWindow] stores it once (no error). It returns [ErrUnknownCommand] for an unknown
// name and the JetStream error when the stream does not take the message (a user may publish
// only as itself). Publishing says nothing of the outcome: read it from
// [OutcomeSubject](req.EntityID) on the outcome stream.
func Publish(ctx context.Context, js jetstream.JetStream, user, name string, req natsapi.Request) error {
	if !knownCommand(name) {
		return fmt.Errorf("%w %q", ErrUnknownCommand, name)
	}
	data, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("natscmd: encode %s: %w", name, err)
	}
	msg := &nats.Msg{Subject: CommandSubject(user, name), Data: data, Header: nats.Header{}}
	if req.CommandID != "" {
		msg.Header.Set(nats.MsgIdHdr, req.CommandID)
	}
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("natscmd: publish %s: %w", name, err)
	}
	return nil
}

func knownCommand(name string) bool {
	for _, n := range natsapi.Commands {
		if n == name {
			return true
		}
	}
	return false
}

// commandOf returns the user and command name of a command subject
// (entityconn.commands.<user>.<name>). For a subject of another shape, user is "" and name is
// whatever follows entityconn.commands.
func commandOf(subject string) (user, name string) {
	if user, name, ok := natsapi.SubjectUser(CommandPrefix, subject); ok && !strings.Contains(name, ".") {
		return user, name
	}
	name, _ = strings.CutPrefix(subject, CommandPrefix+".")
	return "", name
}
