package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/nats-io/nats.go"
)

// externalNATS is how a command signs in to an external NATS (--nats-url) as the service, and
// whether serve authorises that NATS's users (auth callout).
type externalNATS struct {
	Creds, User, Password  string
	TLSCA, TLSCert, TLSKey string
	// CalloutSeedFile and CalloutSeed (only from the environment: a secret does not belong on
	// a command line) give the account seed that signs auth callout answers. Set, serve
	// answers the cluster's auth callout requests from the directory.
	CalloutSeedFile, CalloutSeed string
	// SystemUser and SystemPassword sign in to the system account, to close the connections
	// of users whose rights change.
	SystemUser, SystemPassword string
}

// register declares the flags of x on fs, each defaulting to its environment variable; the
// auth callout and system account flags only when callout is true (serve).
func (x *externalNATS) register(fs *flag.FlagSet, env func(name, def string) string, callout bool) {
	fs.StringVar(&x.Creds, "nats-creds", env("NATS_CREDS", ""), "with --nats-url: credentials file (.creds) of the service's identity (env NATS_CREDS)")
	fs.StringVar(&x.User, "nats-user", env("NATS_USER", ""), "with --nats-url: user name of the service's identity (env NATS_USER)")
	fs.StringVar(&x.Password, "nats-password", env("NATS_PASSWORD", ""), "with --nats-url: password of --nats-user (env NATS_PASSWORD; prefer the variable: a command line is visible to other users)")
	fs.StringVar(&x.TLSCA, "nats-tls-ca", env("NATS_CA", ""), "with --nats-url: CA certificates (PEM) that sign the servers' certificates (env NATS_CA)")
	fs.StringVar(&x.TLSCert, "nats-tls-cert", env("NATS_CERT", ""), "with --nats-url: client certificate (PEM) (env NATS_CERT)")
	fs.StringVar(&x.TLSKey, "nats-tls-key", env("NATS_KEY", ""), "with --nats-url: key of --nats-tls-cert (PEM) (env NATS_KEY)")
	if !callout {
		return
	}
	x.CalloutSeed = env("ENTITYCONN_AUTH_CALLOUT_SEED", "")
	fs.StringVar(&x.CalloutSeedFile, "auth-callout-seed-file", env("ENTITYCONN_AUTH_CALLOUT_SEED_FILE", ""), "with --nats-url: file holding the account seed whose public key the servers' auth_callout trusts (or env ENTITYCONN_AUTH_CALLOUT_SEED, the seed itself); the service then signs directory users in (env ENTITYCONN_AUTH_CALLOUT_SEED_FILE)")
	fs.StringVar(&x.SystemUser, "nats-system-user", env("NATS_SYSTEM_USER", ""), "with the auth callout seed: a system account user, to close the connections of users whose rights change (env NATS_SYSTEM_USER)")
	fs.StringVar(&x.SystemPassword, "nats-system-password", env("NATS_SYSTEM_PASSWORD", ""), "password of --nats-system-user (env NATS_SYSTEM_PASSWORD)")
}

// set reports whether any option of an external NATS is given.
func (x externalNATS) set() bool { return x != externalNATS{} }

// check reports options that do not go together.
func (x externalNATS) check() error {
	switch {
	case (x.SystemUser != "") != (x.SystemPassword != ""):
		return errors.New("--nats-system-user and --nats-system-password go together")
	case x.SystemUser != "" && x.CalloutSeedFile == "" && x.CalloutSeed == "":
		return errors.New("--nats-system-user is for closing the connections of users the service authorises: give the auth callout seed too (--auth-callout-seed-file or ENTITYCONN_AUTH_CALLOUT_SEED)")
	case x.CalloutSeedFile != "" && x.CalloutSeed != "":
		return errors.New("give the auth callout seed once: --auth-callout-seed-file or ENTITYCONN_AUTH_CALLOUT_SEED")
	case x.User != "" && x.Creds != "":
		return errors.New("--nats-user and --nats-creds are two identities: give one")
	}
	return nil
}

// calloutSeed returns the auth callout seed, read from its file if need be.
func (x externalNATS) calloutSeed() (string, error) {
	if x.CalloutSeed != "" {
		return x.CalloutSeed, nil
	}
	b, err := os.ReadFile(x.CalloutSeedFile)
	if err != nil {
		return "", fmt.Errorf("--auth-callout-seed-file: %w", err)
	}
	return string(bytes.TrimSpace(b)), nil
}

// options returns the connection options of the service's own identity on the external NATS.
func (x externalNATS) options() []nats.Option {
	var opts []nats.Option
	if x.Creds != "" {
		opts = append(opts, nats.UserCredentials(x.Creds))
	}
	if x.User != "" {
		opts = append(opts, nats.UserInfo(x.User, x.Password))
	}
	if x.TLSCA != "" {
		opts = append(opts, nats.RootCAs(x.TLSCA))
	}
	if x.TLSCert != "" || x.TLSKey != "" {
		opts = append(opts, nats.ClientCert(x.TLSCert, x.TLSKey))
	}
	return opts
}
