// Package archtest holds the test that keeps the dependencies of the module pointing one way:
// cmd → adapters → {domain, projections} → events. It has no code of its own.
package archtest
