package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/entityconn/entityconn/adapters/restclient"
	"github.com/entityconn/entityconn/events/contract"
)

// clientUsage lists the client subcommands; main's usage prints it after its own lines.
const clientUsage = `  request <target-entity-id>     request a connection from the acting entity to the target
  accept <connection-id>         accept a pending request (acting as its target)
  deny [--reason R] <connection-id>
                                 deny a pending request (acting as its target)
  cancel <connection-id>         cancel a pending request (acting as its source)
  disconnect [--reason R] <connection-id>
                                 end a connection (acting as its source or its target)
  list [--type outbound|inbound] [--status S] [--page N] [--page-size N] [--all] [--as-of T]
                                 list the acting entity's connections, newest request first
  get [--as-of T] <connection-id>
                                 show a connection and its history
  share <object-type> <object-id> --to ID[,ID...]
                                 share an object (such as Product P-100) with entities over
                                 their Connected connections from the acting entity: all or none
  unshare <object-type> <object-id> --from ID[,ID...]
                                 stop sharing an object with entities: all or none
  shared [--direction sharedBy|sharedWith] [--type T] [--page N] [--page-size N] [--all] [--as-of T]
                                 list the objects the acting entity shares and those shared
                                 with it, newest share first
  settings [--auto-accept-from ID[,ID...] | --auto-accept-from '*' | --auto-accept-none]
                                 show the acting entity's sharing settings: the sources whose
                                 requests it accepts at once; with a flag, change them

  Client flags, before or after the arguments:
  --url URL                      REST API (ENTITYCONN_URL, default ` + clientDefaultURL + `)
  --client-id, --client-secret   credentials (ENTITYCONN_CLIENT_ID, ENTITYCONN_CLIENT_SECRET)
  --entity ID                    acting entity, sent as Zuora-Entity-Ids (ENTITYCONN_ENTITY)
  --json                         print the JSON result instead of text
  --idempotency-key K, --track-id T
                                 headers of request, accept, deny, cancel, disconnect, share,
                                 unshare and a settings change
  --min-sequence N               list, get, shared: wait until the views include this sequence
  --as-of T                      list, get, shared: answer as it was at T, an RFC 3339 time
                                 such as 2026-11-27T10:00:00Z (from the event log)
`

const clientDefaultURL = "http://127.0.0.1:8080"

// clientCommand is what one invocation of a client subcommand asks for.
type clientCommand struct {
	sub          string
	url          string
	clientID     string
	clientSecret string
	entity       string
	json         bool

	idempotencyKey string
	trackID        string
	reason         string

	listType    string
	status      string
	page        int
	pageSize    int
	all         bool
	minSequence uint64
	asOf        time.Time

	arg string // the target entity (request) or the connection id

	// share, unshare: the object and the entities (--to, --from); shared: --direction and
	// --type (objectType).
	objectType string
	objectID   string
	entities   entityList
	direction  string

	// settings: --auto-accept-from (change is true, autoAcceptFrom holds the ids or "*") or
	// --auto-accept-none (change is true, autoAcceptFrom empty); neither reads them.
	autoAcceptFrom entityList
	autoAcceptNone bool
	change         bool
}

// entityList is the value of --to and --from: entity ids separated by commas, the flag
// given once or more.
type entityList []string

func (l *entityList) String() string { return strings.Join(*l, ",") }

func (l *entityList) Set(v string) error {
	for _, id := range strings.Split(v, ",") {
		id = strings.TrimSpace(id)
		if id == "" {
			return errors.New("an entity id is empty")
		}
		*l = append(*l, id)
	}
	return nil
}

// clientSynopsis returns the usage line of sub, without "usage: entityconn ", and how many
// positional arguments it takes; ok is false for a sub that is not a client command.
func clientSynopsis(sub string) (line string, args int, ok bool) {
	switch sub {
	case "request":
		return "request [flags] <target-entity-id>", 1, true
	case "accept", "cancel":
		return sub + " [flags] <connection-id>", 1, true
	case "get":
		return "get [--as-of T] [flags] <connection-id>", 1, true
	case "deny", "disconnect":
		return sub + " [--reason R] [flags] <connection-id>", 1, true
	case "list":
		return "list [--type outbound|inbound] [--status S] [--page N] [--page-size N] [--all] [--as-of T] [flags]", 0, true
	case "share":
		return "share [flags] <object-type> <object-id> --to ID[,ID...]", 2, true
	case "unshare":
		return "unshare [flags] <object-type> <object-id> --from ID[,ID...]", 2, true
	case "shared":
		return "shared [--direction sharedBy|sharedWith] [--type T] [--page N] [--page-size N] [--all] [--as-of T] [flags]", 0, true
	case "settings":
		return "settings [--auto-accept-from ID[,ID...] | --auto-accept-from '*' | --auto-accept-none] [flags]", 0, true
	}
	return "", 0, false
}

// runClient runs the client subcommand sub (request, accept, deny, cancel, disconnect, list,
// get, share, unshare, shared or settings) with its arguments against the REST API and returns the exit
// status: 0 on success, 1 when the call fails, 2 for a usage or configuration error.
func runClient(ctx context.Context, sub string, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd, code, ok := clientParse(sub, args, getenv, stderr)
	if !ok {
		return code
	}
	c := restclient.New(cmd.url, cmd.clientID, cmd.clientSecret, restclient.WithEntity(cmd.entity))
	if err := clientExecute(ctx, c, cmd, stdout); err != nil {
		fmt.Fprintf(stderr, "entityconn: %s\n", clientErrorText(err))
		if hint := clientHint(err, cmd); hint != "" {
			fmt.Fprintf(stderr, "entityconn: %s\n", hint)
		}
		return 1
	}
	return 0
}

// clientParse reads the flags, the positional argument and the environment. When ok is false
// it has already said why on stderr and code is the exit status.
func clientParse(sub string, args []string, getenv func(string) string, stderr io.Writer) (cmd clientCommand, code int, ok bool) {
	synopsis, nargs, known := clientSynopsis(sub)
	if !known {
		fmt.Fprintf(stderr, "entityconn: unknown client command %q\n", sub)
		return cmd, 2, false
	}
	cmd.sub = sub
	fs := flag.NewFlagSet("entityconn "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: entityconn %s\n", synopsis)
		fs.PrintDefaults()
	}
	// Defaults stay empty so that the environment, read after parsing, is never printed
	// (a secret) and a flag always wins over it.
	fs.StringVar(&cmd.url, "url", "", "REST API base URL (env ENTITYCONN_URL, default "+clientDefaultURL+")")
	fs.StringVar(&cmd.clientID, "client-id", "", "OAuth client id (env ENTITYCONN_CLIENT_ID)")
	fs.StringVar(&cmd.clientSecret, "client-secret", "", "OAuth client secret (env ENTITYCONN_CLIENT_SECRET)")
	fs.StringVar(&cmd.entity, "entity", "", "acting entity id, sent as Zuora-Entity-Ids (env ENTITYCONN_ENTITY)")
	fs.BoolVar(&cmd.json, "json", false, "print the JSON result instead of text")
	var asOf string
	switch sub {
	case "list", "get", "shared":
		fs.Uint64Var(&cmd.minSequence, "min-sequence", 0, "answer only once the views include this event sequence")
		fs.StringVar(&asOf, "as-of", "", "answer as it was at this `time`, RFC 3339 such as 2026-11-27T10:00:00Z")
	default:
		fs.StringVar(&cmd.idempotencyKey, "idempotency-key", "", "Idempotency-Key header: a retry with the same key is applied once")
		fs.StringVar(&cmd.trackID, "track-id", "", "Zuora-Track-Id header, echoed by the server")
	}
	switch sub {
	case "deny", "disconnect":
		fs.StringVar(&cmd.reason, "reason", "", "reason recorded with the event")
	case "list":
		fs.StringVar(&cmd.listType, "type", "", "outbound (the acting entity is the source) or inbound (it is the target); both if empty")
		fs.StringVar(&cmd.status, "status", "", "only connections in this state, such as Pending")
		fs.IntVar(&cmd.page, "page", 0, "page number, from 1")
		fs.IntVar(&cmd.pageSize, "page-size", 0, "connections per page, at most 300")
		fs.BoolVar(&cmd.all, "all", false, "follow the pages to the last one")
	case "share":
		fs.Var(&cmd.entities, "to", "`ids` of the entities to share with, separated by commas (at most 50)")
	case "unshare":
		fs.Var(&cmd.entities, "from", "`ids` of the entities to stop sharing with, separated by commas")
	case "shared":
		fs.StringVar(&cmd.direction, "direction", "", "sharedBy (the objects the acting entity shares) or sharedWith (those shared with it); both if empty")
		fs.StringVar(&cmd.objectType, "type", "", "only objects of this type, such as Product")
		fs.IntVar(&cmd.page, "page", 0, "page number, from 1")
		fs.IntVar(&cmd.pageSize, "page-size", 0, "shared objects per page, at most 300")
		fs.BoolVar(&cmd.all, "all", false, "follow the pages to the last one")
	case "settings":
		fs.Var(&cmd.autoAcceptFrom, "auto-accept-from", "accept at once the requests from these entity `ids`, separated by commas, or from every entity with '*'")
		fs.BoolVar(&cmd.autoAcceptNone, "auto-accept-none", false, "accept no request at once: an admin decides each")
	}

	positional, err := clientParseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return cmd, 0, false
	}
	if err != nil {
		return cmd, 2, false // the flag package has printed the error and the usage
	}
	usageError := func(format string, a ...any) (clientCommand, int, bool) {
		fmt.Fprintf(stderr, "entityconn %s: %s\n", sub, fmt.Sprintf(format, a...))
		fs.Usage()
		return cmd, 2, false
	}
	object := sub == "share" || sub == "unshare"
	switch {
	case len(positional) < nargs && sub == "request":
		return usageError("missing the target entity id")
	case len(positional) == 0 && object:
		return usageError("missing the object type and id")
	case len(positional) < nargs && object:
		return usageError("missing the object id")
	case len(positional) < nargs:
		return usageError("missing the connection id")
	case len(positional) > nargs:
		return usageError("unexpected argument %q", positional[nargs])
	}
	if slices.Contains(positional, "") {
		return usageError("an argument is empty")
	}
	switch nargs {
	case 1:
		cmd.arg = positional[0]
	case 2:
		cmd.objectType, cmd.objectID = positional[0], positional[1]
	}
	switch {
	case sub == "share" && len(cmd.entities) == 0:
		return usageError("missing --to: the entities to share with")
	case sub == "unshare" && len(cmd.entities) == 0:
		return usageError("missing --from: the entities to stop sharing with")
	}
	if cmd.listType != "" && cmd.listType != "outbound" && cmd.listType != "inbound" {
		return usageError("--type is %q, want outbound or inbound", cmd.listType)
	}
	if cmd.direction != "" && cmd.direction != "sharedBy" && cmd.direction != "sharedWith" {
		return usageError("--direction is %q, want sharedBy or sharedWith", cmd.direction)
	}
	if cmd.page < 0 || cmd.pageSize < 0 {
		return usageError("--page and --page-size must be positive")
	}
	if asOf != "" {
		t, err := time.Parse(time.RFC3339Nano, asOf)
		if err != nil {
			return usageError("--as-of %q is not an RFC 3339 time such as 2026-11-27T10:00:00Z", asOf)
		}
		cmd.asOf = t
	}
	if sub == "settings" {
		switch {
		case len(cmd.autoAcceptFrom) > 0 && cmd.autoAcceptNone:
			return usageError("--auto-accept-from and --auto-accept-none exclude each other")
		case len(cmd.autoAcceptFrom) > 0 || cmd.autoAcceptNone:
			cmd.change = true
		case cmd.idempotencyKey != "" || cmd.trackID != "":
			return usageError("--idempotency-key and --track-id go with a change: --auto-accept-from or --auto-accept-none")
		}
	}

	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	orEnv := func(v *string, env, def string) {
		if *v == "" {
			*v = getenv(env)
		}
		if *v == "" {
			*v = def
		}
	}
	orEnv(&cmd.url, "ENTITYCONN_URL", clientDefaultURL)
	orEnv(&cmd.clientID, "ENTITYCONN_CLIENT_ID", "")
	orEnv(&cmd.clientSecret, "ENTITYCONN_CLIENT_SECRET", "")
	orEnv(&cmd.entity, "ENTITYCONN_ENTITY", "")
	if u, err := url.Parse(cmd.url); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(stderr, "entityconn: the REST API URL %q (--url or ENTITYCONN_URL) is not an http:// or https:// URL\n", cmd.url)
		return cmd, 2, false
	}
	if cmd.clientID == "" || cmd.clientSecret == "" {
		fmt.Fprintln(stderr, "entityconn: missing credentials: set ENTITYCONN_CLIENT_ID and ENTITYCONN_CLIENT_SECRET (or pass --client-id and --client-secret)")
		return cmd, 2, false
	}
	return cmd, 0, true
}

// clientParseArgs parses flags placed before, between or after the positional arguments and
// returns the positional ones. The flag package stops at the first non-flag argument, so it is
// started again after each; a "--" ends the flags for good.
func clientParseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// clientExecute makes the call and prints its result.
func clientExecute(ctx context.Context, c *restclient.Client, cmd clientCommand, stdout io.Writer) error {
	var opts []restclient.CallOption
	if cmd.idempotencyKey != "" {
		opts = append(opts, restclient.IdempotencyKey(cmd.idempotencyKey))
	}
	if cmd.trackID != "" {
		opts = append(opts, restclient.TrackID(cmd.trackID))
	}
	var (
		res  restclient.Result
		err  error
		verb string
	)
	switch cmd.sub {
	case "request":
		res, err = c.Request(ctx, cmd.arg, opts...)
		verb = "requested"
	case "accept":
		res, err = c.Accept(ctx, cmd.arg, opts...)
		verb = "accepted"
	case "deny":
		res, err = c.Deny(ctx, cmd.arg, cmd.reason, opts...)
		verb = "denied"
	case "cancel":
		res, err = c.Cancel(ctx, cmd.arg, opts...)
		verb = "cancelled"
	case "disconnect":
		res, err = c.Disconnect(ctx, cmd.arg, cmd.reason, opts...)
		verb = "disconnected"
	case "list":
		return clientList(ctx, c, cmd, stdout)
	case "share", "unshare":
		return clientShare(ctx, c, cmd, opts, stdout)
	case "shared":
		return clientShared(ctx, c, cmd, stdout)
	case "settings":
		return clientSettings(ctx, c, cmd, opts, stdout)
	case "get":
		var d restclient.Detail
		if cmd.asOf.IsZero() {
			d, err = c.Get(ctx, cmd.arg, cmd.minSequence)
		} else {
			d, err = c.GetAsOf(ctx, cmd.arg, cmd.asOf)
		}
		if err != nil {
			return err
		}
		if cmd.json {
			return clientWriteJSON(stdout, d)
		}
		return clientPrintDetail(stdout, d)
	default:
		return fmt.Errorf("unknown client command %q", cmd.sub)
	}
	if err != nil {
		return err
	}
	if cmd.json {
		return clientWriteJSON(stdout, res)
	}
	line := fmt.Sprintf("%s connection %s", verb, clientClean(res.ID))
	if cmd.sub == "request" {
		if cmd.entity != "" {
			line += fmt.Sprintf(" (%s → %s)", clientClean(cmd.entity), clientClean(cmd.arg))
		} else {
			line += fmt.Sprintf(" (→ %s)", clientClean(cmd.arg))
		}
		if res.Status != "" { // Pending, or Connected when the target's settings accepted it at once
			line += ", status " + clientClean(res.Status)
		}
	}
	if res.Sequence != 0 {
		line += fmt.Sprintf(", sequence %d", res.Sequence)
	}
	_, err = fmt.Fprintln(stdout, line)
	return err
}

// clientList runs list, one page or --all of them.
func clientList(ctx context.Context, c *restclient.Client, cmd clientCommand, stdout io.Writer) error {
	opts := restclient.ListOptions{
		Type: cmd.listType, Status: cmd.status, Page: cmd.page, PageSize: cmd.pageSize, MinSequence: cmd.minSequence, AsOf: cmd.asOf,
	}
	var page restclient.Page
	if cmd.all {
		items, err := c.ListAll(ctx, opts)
		if err != nil {
			return err
		}
		page.Items = items
	} else {
		var err error
		if page, err = c.List(ctx, opts); err != nil {
			return err
		}
	}
	if cmd.json {
		return clientWriteJSON(stdout, page.Items)
	}
	if len(page.Items) == 0 {
		fmt.Fprintln(stdout, "no connections")
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSOURCE\tTARGET\tSTATUS\tREQUESTED BY\tREQUESTED AT")
		for _, it := range page.Items {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", clientClean(it.ID), clientClean(it.SourceEntityID),
				clientClean(it.TargetEntityID), clientClean(it.Status), clientClean(it.RequestedBy), clientTime(it.RequestedAt))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if page.NextPage != "" {
		_, err := fmt.Fprintf(stdout, "next page: %s\n", clientPageNumber(page.NextPage))
		return err
	}
	return nil
}

// clientShare runs share or unshare and prints what it did.
func clientShare(ctx context.Context, c *restclient.Client, cmd clientCommand, opts []restclient.CallOption, stdout io.Writer) error {
	var (
		res  restclient.Result
		err  error
		line string
	)
	out := struct {
		ObjectType    string   `json:"objectType"`
		ObjectID      string   `json:"objectId"`
		ToEntityIDs   []string `json:"toEntityIds,omitempty"`
		FromEntityIDs []string `json:"fromEntityIds,omitempty"`
		Sequence      uint64   `json:"sequence"`
	}{ObjectType: cmd.objectType, ObjectID: cmd.objectID}
	targets := make([]string, len(cmd.entities))
	for i, e := range cmd.entities {
		targets[i] = clientClean(e)
	}
	object := clientClean(cmd.objectType) + " " + clientClean(cmd.objectID)
	if cmd.sub == "share" {
		res, err = c.Share(ctx, cmd.objectType, cmd.objectID, cmd.entities, opts...)
		out.ToEntityIDs, line = cmd.entities, "shared "+object+" with "+strings.Join(targets, ", ")
	} else {
		res, err = c.Unshare(ctx, cmd.objectType, cmd.objectID, cmd.entities, opts...)
		out.FromEntityIDs, line = cmd.entities, "unshared "+object+" from "+strings.Join(targets, ", ")
	}
	if err != nil {
		return err
	}
	if cmd.json {
		out.Sequence = res.Sequence
		return clientWriteJSON(stdout, out)
	}
	if res.Sequence != 0 {
		line += fmt.Sprintf(", sequence %d", res.Sequence)
	}
	_, err = fmt.Fprintln(stdout, line)
	return err
}

// clientShared runs shared, one page or --all of them.
func clientShared(ctx context.Context, c *restclient.Client, cmd clientCommand, stdout io.Writer) error {
	opts := restclient.SharedOptions{
		Direction: cmd.direction, ObjectType: cmd.objectType, Page: cmd.page, PageSize: cmd.pageSize, MinSequence: cmd.minSequence, AsOf: cmd.asOf,
	}
	var page restclient.SharedPage
	if cmd.all {
		items, err := c.SharedObjectsAll(ctx, opts)
		if err != nil {
			return err
		}
		page.Items = items
	} else {
		var err error
		if page, err = c.SharedObjects(ctx, opts); err != nil {
			return err
		}
	}
	if cmd.json {
		return clientWriteJSON(stdout, page.Items)
	}
	if len(page.Items) == 0 {
		fmt.Fprintln(stdout, "no shared objects")
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "TYPE\tID\tSOURCE\tTARGET\tSHARED BY\tSHARED AT")
		for _, it := range page.Items {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", clientClean(it.ObjectType), clientClean(it.ObjectID), clientClean(it.SourceEntityID),
				clientClean(it.TargetEntityID), clientOrDash(it.SharedBy), clientTime(it.SharedAt))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if page.NextPage != "" {
		_, err := fmt.Fprintf(stdout, "next page: %s\n", clientPageNumber(page.NextPage))
		return err
	}
	return nil
}

// clientSettings runs settings: it reads the acting entity's sharing settings, or changes
// them with --auto-accept-from or --auto-accept-none, and prints them.
func clientSettings(ctx context.Context, c *restclient.Client, cmd clientCommand, opts []restclient.CallOption, stdout io.Writer) error {
	out := struct {
		AutoAcceptFrom []string `json:"autoAcceptFrom"`
		Sequence       uint64   `json:"sequence,omitempty"`
	}{AutoAcceptFrom: []string(cmd.autoAcceptFrom)}
	line := "auto-accept from "
	if cmd.change {
		if out.AutoAcceptFrom == nil {
			out.AutoAcceptFrom = []string{}
		}
		res, err := c.SetSharingSettings(ctx, out.AutoAcceptFrom, opts...)
		if err != nil {
			return err
		}
		out.Sequence, line = res.Sequence, "set "+line
	} else {
		from, err := c.SharingSettings(ctx)
		if err != nil {
			return err
		}
		out.AutoAcceptFrom = from
	}
	if cmd.json {
		return clientWriteJSON(stdout, out)
	}
	switch {
	case len(out.AutoAcceptFrom) == 0:
		line += "no entity"
	case len(out.AutoAcceptFrom) == 1 && out.AutoAcceptFrom[0] == "*":
		line += "every entity (*)"
	default:
		ids := make([]string, len(out.AutoAcceptFrom))
		for i, id := range out.AutoAcceptFrom {
			ids[i] = clientClean(id)
		}
		line += strings.Join(ids, ", ")
	}
	if out.Sequence != 0 {
		line += fmt.Sprintf(", sequence %d", out.Sequence)
	}
	_, err := fmt.Fprintln(stdout, line)
	return err
}

// clientPageNumber returns the page parameter of a nextPage link, or the link itself.
func clientPageNumber(next string) string {
	if u, err := url.Parse(next); err == nil {
		if p := u.Query().Get("page"); p != "" {
			if _, err := strconv.Atoi(p); err == nil {
				return p
			}
		}
	}
	return clientClean(next)
}

// clientPrintDetail prints a connection's fields, then its history as a table.
func clientPrintDetail(w io.Writer, d restclient.Detail) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range [][2]string{
		{"ID", clientClean(d.ID)},
		{"SOURCE", clientClean(d.SourceEntityID)},
		{"TARGET", clientClean(d.TargetEntityID)},
		{"STATUS", clientClean(d.Status)},
		{"REQUESTED BY", clientClean(d.RequestedBy)},
		{"REQUESTED AT", clientTime(d.RequestedAt)},
		{"UPDATED AT", clientTime(d.UpdatedAt)},
	} {
		fmt.Fprintf(tw, "%s\t%s\n", f[0], f[1])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nHISTORY")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tTYPE\tACTOR\tENTITY\tREASON")
	for _, h := range d.History {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", clientTime(h.At), clientClean(string(h.Type)),
			clientOrDash(h.ActorUserID), clientOrDash(h.ActorEntityID), clientOrDash(h.Reason))
	}
	return tw.Flush()
}

// clientWriteJSON prints v as indented JSON.
func clientWriteJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// clientErrorText is the reason printed after "entityconn: ", such as
// "connection is not pending (HTTP 409, code 53000030)".
func clientErrorText(err error) string {
	var apiErr *restclient.APIError
	if errors.As(err, &apiErr) {
		return clientClean(apiErr.Error())
	}
	return clientClean(err.Error())
}

// clientHint says what to do about err, when the CLI knows better than the API's message,
// which speaks of REST headers: "" otherwise.
func clientHint(err error, cmd clientCommand) string {
	var apiErr *restclient.APIError
	if !errors.As(err, &apiErr) {
		return ""
	}
	// The CLI builds every body and fills every required field: a missing value is the
	// acting entity, which it sends as Zuora-Entity-Ids only when given one.
	if cmd.entity == "" && apiErr.Status == http.StatusBadRequest && apiErr.Category() == int(contract.CategoryMissingValue) {
		return "the user has access to more than one entity: say which one it acts in with --entity ID (or ENTITYCONN_ENTITY=ID)"
	}
	return ""
}

// clientTime formats a time for a table: RFC 3339 in UTC, "-" if unknown.
func clientTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func clientOrDash(s string) string {
	if s == "" {
		return "-"
	}
	return clientClean(s)
}

// clientClean replaces control characters in text from the server (a reason is typed by
// another user) so that it can neither break a table's columns nor send terminal escapes.
func clientClean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}
