// Package domain decides what happens to entity connections. It is pure: no I/O, no clock,
// no NATS. Adapters load state, call [Decide], store the events it returns and build views
// with [Evolve].
//
// A connection's state changes in one place, [Evolve], which refuses an event that does not
// fit. Everything else that yields a state is built on it: [FromLast] evolves a pair's last
// event from the state that event follows, and the views of package projections evolve
// their state too, taking an event Evolve refuses from the state [Presume] gives, so that a
// projector never stops. [Connection.AsOfLastEvent] only leaves out what the last event does
// not tell, so that a state read from a view equals the one [FromLast] loads.
//
// A connection lets a source entity share business objects to a target entity. It is
// directional: A→B and B→A are two connections. Its states are Pending, Connected and the
// terminal Denied, Cancelled, Expired and Disconnected.
//
// The rules of contract §1, each with a test that names it:
//
//  1. Source ≠ target ([ErrSameEntity]); both entities exist. Grants exist only for
//     entities that exist, so an unknown entity is refused as one without access
//     ([ErrNoEntityAccess], [ErrNoTargetAccess]): the answer does not reveal which exist.
//  2. At most one live (Pending or Connected) connection per ordered (source, target) pair
//     ([ErrAlreadyLive]). A request after a terminal state makes a new connection with a
//     new id. [Decide] checks it against the pair's latest connection; the event store makes
//     it hold under concurrency by appending conditionally on the pair's last event.
//  3. An illegal transition changes nothing and says why ([ErrNotPending],
//     [ErrNotConnected], [ErrNotExpired]).
//  4. Every accepted command is stored as exactly one event; nothing is ever deleted or
//     rewritten: [Decide] returns exactly one event or an error, and the event store is
//     append-only.
//  5. A retried command has its first outcome replayed, never applied twice: events carry
//     ids derived from the command id ([Command] fields EventID and ConnectionID), so a
//     retry produces the same event, which the store recognises.
//
// The permission rules:
//
//   - P1 RequestConnection: an admin of the source entity (the acting entity) who also has
//     access, in any role, to the target.
//   - P2 AcceptConnection and DenyConnection: an admin of the target entity.
//   - P3 CancelConnection: an admin of the source entity.
//   - P4 DisconnectConnection: an admin of the source or of the target entity.
//   - P5 A connection is visible only from its source and its target entity; from any other
//     entity it does not exist ([ErrConnectionNotFound], a 404 rather than a 403).
package domain
