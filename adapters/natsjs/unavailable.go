package natsjs

import "github.com/entityconn/entityconn/adapters/natserr"

// Unavailable reports whether err says that NATS or JetStream could not serve a request
// now ([natserr.Unavailable]).
func Unavailable(err error) bool { return natserr.Unavailable(err) }
