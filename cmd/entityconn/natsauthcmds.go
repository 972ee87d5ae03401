package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"

	"github.com/entityconn/entityconn/adapters/directoryfile"
	"github.com/entityconn/entityconn/adapters/natsauth"
	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/cmd/entityconn/internal/cli"
	"github.com/entityconn/entityconn/domain"
)

const natsAuthUsage = `  nats-context [--data DIR] [--nats-listen ADDR]
               print the service's own NATS identity on the embedded server as a natscli
               context: entityconn nats-context > ~/.config/nats/context/entityconn.json,
               then nats --context entityconn stream ls
  nats-permissions --user ID | --config  [--directory FILE]
               print a directory user's NATS permissions as JSON (contract §5a), or with
               --config every user's entry for a nats-server authorization block, for
               operators who run their own NATS authentication; the directory is FILE, or
               the one the running service stores (--data/--nats-listen, or --nats-url)
  nats-server-config [--env-file FILE]
               print a fresh nats-server authorization block for a cluster whose users
               entityconn signs in (auth callout), and write the matching secrets for the
               entityconn replicas to FILE (mode 0600) as environment variables
`

// natsURLOf returns the client URL of an embedded server listening on addr.
func natsURLOf(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("--nats-listen %q: %w", addr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "nats://" + net.JoinHostPort(host, port), nil
}

// natsContext is a natscli context (nats context save writes the same fields).
type natsContext struct {
	Description string `json:"description"`
	URL         string `json:"url"`
	User        string `json:"user"`
	Password    string `json:"password"`
}

// runNATSContext is "entityconn nats-context": it prints the embedded server's service
// identity as a natscli context.
func runNATSContext(_ context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("nats-context", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := envOr(getenv)
	data := fs.String("data", env("ENTITYCONN_DATA", "./data"), "data directory of entityconn serve (env ENTITYCONN_DATA)")
	listen := fs.String("nats-listen", env("ENTITYCONN_NATS_LISTEN", "127.0.0.1:4222"), "client address of the embedded NATS server (env ENTITYCONN_NATS_LISTEN)")
	if code, ok := cli.ParseFlags(fs, args, stderr); !ok {
		return code
	}
	url, err := natsURLOf(*listen)
	if err != nil {
		fmt.Fprintf(stderr, "entityconn nats-context: %v\n", err)
		return 2
	}
	id, err := natsauth.ReadIdentity(*data)
	if err != nil {
		fmt.Fprintf(stderr, "entityconn nats-context: %v\n", err)
		return 1
	}
	out, _ := json.MarshalIndent(natsContext{
		Description: "entityconn service identity (embedded NATS of " + *data + "): may do anything",
		URL:         url, User: id.User, Password: id.Password,
	}, "", "  ")
	fmt.Fprintf(stdout, "%s\n", out)
	return 0
}

// runNATSPermissions is "entityconn nats-permissions".
func runNATSPermissions(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("nats-permissions", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := envOr(getenv)
	user := fs.String("user", "", "the directory user id whose permissions to print")
	config := fs.Bool("config", false, "print every directory user's entry of a nats-server authorization users list instead")
	file := fs.String("directory", "", "read the directory from this YAML file instead of the running service")
	data := fs.String("data", env("ENTITYCONN_DATA", "./data"), "without --directory: data directory of entityconn serve (env ENTITYCONN_DATA)")
	listen := fs.String("nats-listen", env("ENTITYCONN_NATS_LISTEN", "127.0.0.1:4222"), "without --directory: client address of the embedded NATS server (env ENTITYCONN_NATS_LISTEN)")
	url := fs.String("nats-url", env("NATS_URL", ""), "without --directory: the external NATS of the service (env NATS_URL)")
	var ext externalNATS
	ext.register(fs, env, false)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || (*user == "") == !*config {
		fmt.Fprintln(stderr, "entityconn nats-permissions: give --user ID or --config, and no arguments")
		return 2
	}
	dir, err := directoryFor(ctx, *file, *data, *listen, *url, ext)
	if err != nil {
		fmt.Fprintf(stderr, "entityconn nats-permissions: %v\n", err)
		return 1
	}
	if *config {
		if err := writeUsersConfig(stdout, dir); err != nil {
			fmt.Fprintf(stderr, "entityconn nats-permissions: %v\n", err)
			return 1
		}
		return 0
	}
	p, err := natsauth.For(dir, *user)
	if err != nil {
		fmt.Fprintf(stderr, "entityconn nats-permissions: %v\n", err)
		return 1
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false) // the subjects hold ">": keep them readable
	enc.SetIndent("", "  ")
	_ = enc.Encode(p)
	return 0
}

// directoryFor reads the directory from file, or from the service's NATS.
func directoryFor(ctx context.Context, file, data, listen, url string, ext externalNATS) (*domain.Directory, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		// Hashing the secrets is beside the point here: the cheapest cost will do.
		return directoryfile.ParseWith(b, nil, directoryfile.Options{Cost: bcrypt.MinCost})
	}
	opts := append([]nats.Option{nats.Name("entityconn nats-permissions"), nats.Timeout(5 * time.Second)}, ext.options()...)
	if url == "" {
		id, err := natsauth.ReadIdentity(data)
		if err != nil {
			return nil, fmt.Errorf("%w (or give --directory FILE)", err)
		}
		if url, err = natsURLOf(listen); err != nil {
			return nil, err
		}
		opts = append(opts, nats.UserInfo(id.User, id.Password))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w (is entityconn serve running? or give --directory FILE)", url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	kv, err := js.KeyValue(rctx, natsjs.BucketDirectory)
	if err != nil {
		return nil, fmt.Errorf("directory bucket on %s: %w", url, err)
	}
	return natsjs.NewDirectoryStore(&natsjs.Resources{Directory: kv}, nil).Load(rctx)
}

// writeUsersConfig writes, for every directory user, its entry of a nats-server
// authorization users list: client id, the secret's bcrypt hash (nats-server compares
// bcrypt hashes) and the permissions of contract §5a.
func writeUsersConfig(w io.Writer, dir *domain.Directory) error {
	fmt.Fprintf(w, "# NATS users of the entityconn directory of tenant %s (entityconn nats-permissions --config).\n", dir.Tenant())
	fmt.Fprintln(w, "# Put these entries in the users list of the servers' authorization block, beside the")
	fmt.Fprintln(w, "# service's own user, and generate them again (then reload the servers) whenever the")
	fmt.Fprintln(w, "# directory changes: a revoked grant stays in force until then.")
	for _, u := range dir.Users() {
		p, err := natsauth.For(dir, u.ID)
		if err != nil {
			return err
		}
		var perms strings.Builder
		enc := json.NewEncoder(&perms)
		enc.SetEscapeHTML(false) // nats-server's parser knows no \u escape
		if err := enc.Encode(p); err != nil {
			return err
		}
		fmt.Fprintf(w, "{user: %q, password: %q, permissions: %s}\n", u.ClientID, u.SecretHash, strings.TrimSpace(perms.String()))
	}
	return nil
}

// runNATSServerConfig is "entityconn nats-server-config": it makes a fresh identity for a
// cluster whose users entityconn signs in, and prints the servers' authorization block.
func runNATSServerConfig(_ context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("nats-server-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	envFile := fs.String("env-file", "", "write the secrets of the entityconn replicas to this file (mode 0600), as NAME=value lines (docker compose env_file)")
	if code, ok := cli.ParseFlags(fs, args, stderr); !ok {
		return code
	}
	cfg, secrets, err := natsauth.NewServerConfig()
	if err != nil {
		fmt.Fprintf(stderr, "entityconn nats-server-config: %v\n", err)
		return 1
	}
	if *envFile != "" {
		f, err := os.OpenFile(*envFile, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err == nil {
			_, err = io.WriteString(f, secrets)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "entityconn nats-server-config: %v\n", err)
			return 1
		}
	} else {
		fmt.Fprintln(stderr, "entityconn nats-server-config: the replicas' secrets (keep them secret; --env-file writes them to a file):")
		fmt.Fprint(stderr, strings.ReplaceAll("\n"+secrets, "\n", "\n  ")[1:])
		fmt.Fprintln(stderr)
	}
	fmt.Fprint(stdout, cfg)
	return 0
}

// envOr returns a lookup of getenv with a default.
func envOr(getenv func(string) string) func(name, def string) string {
	return func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
}
