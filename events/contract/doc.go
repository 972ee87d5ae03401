// Package contract holds the JSON shapes and the names of contract §4 and §5 that every door
// of entityconn (REST, NATS request/reply, NATS commands) and both of its clients share: the
// connection list item, the history item, the bodies of the answers, the Zuora error
// categories and the command names.
//
// Like package events, it is a contract with other services, which may import it, and it
// depends on the standard library and package events only. The golden files in testdata are
// the published shapes: a test checks that encoding produces them byte for byte and that they
// decode back, so that a change to a shape shows in review. A published shape is never
// edited: a change is a new field or a new shape.
package contract
