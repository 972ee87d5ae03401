// Package natscmd is entityconn's durable asynchronous command door (contract §5): commands
// published on JetStream are handled through a Watermill router and CQRS command processor,
// and each gets exactly one outcome on JetStream.
//
// # Streams and subjects
//
//   - ENTITYCONN_COMMANDS, subjects entityconn.commands.<userId>.<CommandName>
//     (RequestConnection, AcceptConnection, DenyConnection, CancelConnection,
//     DisconnectConnection, ShareObject, UnshareObject): the user token is who acts. The
//     body is the plain JSON request of natsapi.Request; no Watermill header is needed. Nats-Msg-Id =
//     commandId is recommended: the stream de-duplicates re-publications within 2 minutes.
//     Work-queue retention: an acknowledged command is removed, so the stream is exactly the
//     backlog, and the server refuses any second consumer overlapping the door's (which
//     would handle commands twice). Commands wait at most 24 h, the time a command id's
//     first outcome is replayed. File storage, the configured replicas.
//   - ENTITYCONN_OUTCOMES, stored under entityconn.outcomes.<entityId> (the request's entityId;
//     entityconn.outcomes.~invalid when the body has no valid one), body
//     {"commandId","ok","connectionId","sequence","error":{"code","message"}} ([Outcome]),
//     Nats-Msg-Id outcome-<commandId>, the correlation id in Entityconn-Correlation-Id and
//     correlation_id. Limits retention, 7 days. The door appends on
//     entityconn.store.outcomes.<entityId>, which the stream stores under
//     entityconn.outcomes.<entityId> and republishes there for live subscribers: nothing but
//     the door reaches the stream (docs/decisions.md, decision 17).
//   - ENTITYCONN_POISON, subjects entityconn.poison.commands.<userId>.<CommandName>: commands that can
//     never succeed, with their body, the original headers, the reason in
//     Entityconn-Poison-Reason and the original subject in Entityconn-Original-Subject.
//     Limits retention, 14 days. A stream of its own because the door's consumer takes every
//     subject under entityconn.commands (so that an unknown command name is answered too).
//
// # Command ids and redelivery
//
// A command's id is its body's commandId, else its Nats-Msg-Id header, else "seq-<n>" with
// n its stream sequence: all three stay the same when the message is delivered again. The
// id is passed to natsapi.Executor, which replays the first outcome of an id, and the
// service derives event ids from it, so a command delivered again after a crash between
// the append and the acknowledgement is not applied twice; its outcome is published again
// with the same Nats-Msg-Id, which the outcome stream de-duplicates within 2 minutes (more
// than the acknowledgement wait). A command re-published with another message id after
// that window gets its first outcome again, in a second message.
//
// # Consumption
//
// One durable pull consumer, entityconn-commands, filtered on entityconn.commands.>, is
// shared by every door of every replica, so each command is delivered to one of them at a
// time: explicit acknowledgements, AckWait 3 s (a door reports a command in progress every
// third of it while it handles it, so only a command whose door died or whose delivery was
// lost waits for it) and MaxDeliver 5 by default ([Config]), no inactivity threshold (its
// position survives every door stopping). Each door
// pulls at most 512 messages at a time and handles at most 512 at once, so that messages do
// not wait in a client buffer while their acknowledgement timers run. (512 rather than 128:
// more commands at once make bigger group-commit batches; docs/performance.md.)
//
// The Watermill subscriber is this package's own, over nats.go's jetstream
// (Consumer.Messages), not watermill-nats. watermill-nats v2.1.3's jetstream subscriber
// drains the *nats.Conn it is given when the router closes it (the service's shared
// connection), ignores ConfigureConsumer, runs one Consume per topic (so the seven command
// topics would need seven consumers, and a message on an unknown command subject would
// never be consumed, answered or poisoned), handles one message at a time per topic, and on
// close stops waiting for acknowledgements of messages still being handled (they are then
// redelivered after AckWait); its legacy package (pkg/nats) also drains its connection on
// close and subscribes per topic (push queue subscriptions). The subscriber here pulls every command subject from the one durable
// consumer and hands each message to the router output of its subject; a subject no
// handler has goes to a handler that answers "unknown command". Its NATS-to-Watermill
// unmarshaling never fails: it sets the message UUID (the command id), the metadata "name"
// the CQRS marshaler routes by (the subject's command token: one topic per command, so the
// processor never acknowledges a message as "not handled"), the correlation id, the
// delivery count and the body's entityId. A consumer that disappears is created again.
//
// # What happens to a command
//
// Middleware, outermost first: CorrelationID; PoisonQueueWithFilter (publishes poisoned
// commands to ENTITYCONN_POISON, then lets them be acknowledged); the last-delivery rule;
// Retry (3 retries with backoff, starting within a quarter of the 30 s budget) for transient
// failures only; Recoverer. Then, by the executor's outcome:
//
//   - accepted, or refused for a business reason (401 unknown user, 403 permission, 404,
//     409 rule violation such as 53000030): the outcome is published and the command
//     acknowledged. Refusals are neither retried nor poisoned.
//   - malformed (400, 413, 422: JSON that does not decode, unknown fields, an unknown command
//     name, missing or invalid values such as an unknown target entity, a command id reused
//     for another command): the error outcome is published, then the command goes to the
//     poison stream and is acknowledged.
//   - transient (503 unavailable, 500, 409 with category 50: in flight elsewhere, contended;
//     a failed publication of the outcome): retried within the delivery, then negatively
//     acknowledged with a delay (1 s, 2 s, 4 s, then a sixth of the budget each time) and
//     delivered again. On the last delivery (MaxDeliver) the error outcome is published and
//     the command goes to the poison stream ("gave up after N deliveries").
//   - panicked (a bug: handling it raised a panic, which Recoverer catches): logged at error
//     level with the stack, an internal error outcome (500, 53000060, a message naming only
//     the process id) is published, and the command goes to the poison stream at once
//     ("panic while handling the command"): another attempt would not cure it, so it is
//     neither retried nor delivered again. The process goes on.
//
// Not guaranteed: a command whose last delivery dies with its door (or cannot reach NATS)
// gets no outcome and stays unacknowledged on the stream until it ages out; a command whose
// taking panics in the door's subscriber, before the router has it, is logged and
// terminated without an outcome; commands are handled concurrently and in no particular
// order; the time from publication to outcome.
//
// # Correlation
//
// The correlation id is the command's Entityconn-Correlation-Id, Correlation-Id or
// correlation_id (Watermill's) header, else the command id. It is put in the context the
// service appends with (app.WithCorrelationID: events carry it in
// Entityconn-Correlation-Id), and on the outcome and poison messages.
//
// Trust: as for natsapi, the subject's user token is the actor (NATS permissions let a user
// publish only on its own entityconn.commands.<self>.>, a service user on anyone's); a body
// whose actorUserId names someone else is refused (403 outcome), and the directory's rules
// are applied to that user in the body's entityId.
package natscmd
