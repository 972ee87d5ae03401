// Package directoryfile reads the tenant's directory from the YAML file of contract §3 and
// keeps it in a stored form.
//
// The file is one YAML mapping:
//
//	tenant: acme
//	entities:
//	  - {id: global, name: ACME Global}
//	  - {id: eu, name: ACME Europe, parent: global,
//	     displayName: Europe, locale: fr_FR, timezone: Europe/Paris}
//	users:
//	  - id: alice
//	    name: Alice
//	    clientId: alice
//	    clientSecret: alice-secret
//	    access:
//	      - {entity: global, role: admin}
//	      - {entity: eu, role: user}
//
// Instead of clientSecret, a user may have clientSecretHash: a bcrypt hash of the secret, so
// that the file need not hold the secret in clear.
//
// An entity may have displayName, locale and timezone, as Zuora's entities do; the API
// answers the entity's name, en_US and UTC for those it lacks ([domain.Entity.WithDefaults]).
// A locale looks like en_US and a time zone like Europe/Paris or UTC; the time zone database
// is not consulted.
//
// A user may also have service: true: a trusted backend that may send NATS commands in the
// name of any user (contract §5a). Nothing else grants that.
//
// Every field is a string except the lists entities, users and access and the boolean
// service; unknown fields,
// duplicate fields, merge keys (<<) and a second non-empty YAML document are errors. Anchors
// and aliases are followed. The rules of [domain.NewDirectory] apply, and a client secret has
// at least 8 characters and at most 72 bytes (all that bcrypt reads). A bad file is refused
// whole: [Parse] returns a [*FileError] listing every problem with its line.
//
// Client secrets are never kept: [Parse] stores a bcrypt hash of each one in
// [domain.User.SecretHash], reusing the previous directory's hash when it still verifies the
// same secret, so that importing the same file twice yields the same directory. [Encode] and
// [Decode] convert a directory to and from its stored form (JSON), which holds those hashes
// and no secret.
package directoryfile
