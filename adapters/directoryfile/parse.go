package directoryfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/entityconn/entityconn/domain"
)

// ErrInvalidFile is what every [*FileError] unwraps to: [Parse] and [ParseWith] return it,
// as a *FileError, when the file is not a valid directory. Test for it with errors.Is and get
// the problems with errors.As.
var ErrInvalidFile = errors.New("directoryfile: invalid directory file")

// Secret length limits. The upper one is bcrypt's: it ignores bytes past the 72nd, so a
// longer secret would be weaker than it looks.
const (
	minSecretChars = 8
	maxSecretBytes = 72
)

// LineProblem is one reason a directory file is refused. Line and Column are 1-based and 0
// when unknown (some YAML syntax errors carry no position). Path names the value the way
// [domain.Problem] does, e.g. "users[1].access[0].entity", and is empty for syntax errors.
// Message never contains a client secret.
type LineProblem struct {
	Line    int
	Column  int
	Path    string
	Message string
}

// String returns "line N: path: message", leaving out the parts that are unknown.
func (p LineProblem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(p.Line))
		b.WriteString(": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// FileError is returned by [Parse] and [ParseWith] for a file that is refused. Problems holds
// every problem found, sorted by line and column; it is never empty. FileError unwraps to
// [ErrInvalidFile].
type FileError struct {
	Problems []LineProblem
}

// Error returns a first line naming [ErrInvalidFile], then each problem on its own line as
// "line N: path: message".
func (e *FileError) Error() string {
	var b strings.Builder
	b.WriteString(ErrInvalidFile.Error())
	b.WriteString(":")
	for _, p := range e.Problems {
		b.WriteString("\n")
		b.WriteString(p.String())
	}
	return b.String()
}

// Unwrap returns [ErrInvalidFile].
func (e *FileError) Unwrap() error { return ErrInvalidFile }

// Options tunes [ParseWith].
type Options struct {
	// Cost is the bcrypt cost of new secret hashes: 0 means bcrypt.DefaultCost; otherwise it
	// must lie in [bcrypt.MinCost, bcrypt.MaxCost]. A previous hash is reused only if it was
	// made with this cost, so raising the cost rehashes every secret on the next import.
	Cost int
}

// Parse is [ParseWith] with the default [Options].
func Parse(data []byte, previous *domain.Directory) (*domain.Directory, error) {
	return ParseWith(data, previous, Options{})
}

// ParseWith parses the YAML directory file data (see the package doc) and returns the
// validated directory, with each client secret replaced by its bcrypt hash. When previous
// holds a user with the same id whose hash verifies the same secret with the same cost, that
// hash is kept, so parsing an unchanged file against its own result gives an equal directory
// ([Encode] returns the same bytes). previous may be nil.
//
// A file that is not a valid directory is refused whole with a [*FileError] (which wraps
// [ErrInvalidFile]); no hashing happens then. An invalid opts.Cost is an error that is not a
// FileError. Hashing is deliberately slow (tens of milliseconds per user at the default
// cost); it runs on up to GOMAXPROCS goroutines. ParseWith is safe for concurrent use.
func ParseWith(data []byte, previous *domain.Directory, opts Options) (*domain.Directory, error) {
	cost := opts.Cost
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return nil, fmt.Errorf("directoryfile: bcrypt cost %d is outside [%d, %d]", cost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	f, err := load(data)
	if err != nil {
		return nil, err
	}
	hashes, err := hashSecrets(f.users, previous, cost)
	if err != nil {
		return nil, err
	}
	users := make([]domain.User, len(f.users))
	for i, u := range f.users {
		users[i] = u.user
		users[i].SecretHash = hashes[i]
	}
	d, ps := domain.NewDirectory(f.tenant, f.entities, users)
	if len(ps) > 0 {
		// load validated the same values with a stand-in hash; only the hashes changed.
		return nil, fmt.Errorf("directoryfile: directory refused after hashing: %v", ps)
	}
	return d, nil
}

// file is a directory file's content that passed every check, secrets still in clear.
type file struct {
	tenant   string
	entities []domain.Entity
	users    []fileUser
}

// fileUser is a user whose SecretHash is not yet set, with its secret or the hash the file
// gave instead.
type fileUser struct {
	user   domain.User
	secret string
	hash   string
}

// load reads and checks data, returning a *FileError listing every problem.
func load(data []byte) (*file, error) {
	r := newReader()
	if r.read(data) {
		r.validate()
	}
	if len(r.problems) > 0 {
		slices.SortStableFunc(r.problems, func(a, b LineProblem) int {
			if a.Line != b.Line {
				return a.Line - b.Line
			}
			return a.Column - b.Column
		})
		return nil, &FileError{Problems: r.problems}
	}
	return &r.file, nil
}

// reader walks the YAML node tree, building the file's content and remembering which node
// each path came from, so that problems found later by the domain can be given a line.
type reader struct {
	file
	problems []LineProblem
	nodes    map[string]*yaml.Node // path → node written there ("" is the top mapping)
	broken   map[string]bool       // paths whose value had the wrong kind, already reported
	// Items with the wrong shape are left out of what the domain sees, so a domain index
	// differs from the file's; these give the file path of each domain item.
	entityPath []string
	userPath   []string
	grantPath  [][]string
}

func newReader() *reader {
	return &reader{nodes: map[string]*yaml.Node{}, broken: map[string]bool{}}
}

// add records a problem at node n (nil: position unknown).
func (r *reader) add(n *yaml.Node, path, format string, args ...any) {
	p := LineProblem{Path: path, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Line, p.Column = n.Line, n.Column
	}
	r.problems = append(r.problems, p)
}

// wrongKind records that the value at path is not of the kind wanted.
func (r *reader) wrongKind(n *yaml.Node, path, want string) {
	r.broken[path] = true
	r.add(n, path, "want %s, got %s", want, describe(deref(n)))
}

// yamlLine finds the position in yaml's syntax errors: yaml/v3 has no structured syntax
// error, only messages of the form "yaml: line N: problem".
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

func (r *reader) syntax(err error) {
	msg := err.Error()
	p := LineProblem{}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	p.Message = "YAML syntax: " + msg
	r.problems = append(r.problems, p)
}

var (
	topFields    = []string{"tenant", "entities", "users"}
	entityFields = []string{"id", "name", "parent", "displayName", "locale", "timezone"}
	userFields   = []string{"id", "name", "clientId", "clientSecret", "clientSecretHash", "access", "service"}
	grantFields  = []string{"entity", "role"}
)

// read decodes data into r.file and reports whether the top level was a mapping, the
// condition for the domain checks to make sense.
func (r *reader) read(data []byte) bool {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			r.problems = append(r.problems, LineProblem{Line: 1, Message: "the file is empty; want a mapping of " + strings.Join(topFields, ", ")})
		} else {
			r.syntax(err)
		}
		return false
	}
	for {
		// Empty documents after the first (a trailing "---") are harmless.
		var next yaml.Node
		err := dec.Decode(&next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			r.syntax(err)
			return false
		}
		if n := content(&next); n.Kind != yaml.ScalarNode || n.ShortTag() != "!!null" {
			r.add(n, "", "a second YAML document; the file holds exactly one")
			return false
		}
	}
	top := deref(content(&doc))
	fields, ok := r.mapping(top, "", topFields)
	if !ok {
		return false
	}
	r.tenant, _ = r.str(fields["tenant"], "tenant")
	entities, _ := r.seq(fields["entities"], "entities")
	for i, n := range entities {
		r.entity(n, fmt.Sprintf("entities[%d]", i))
	}
	users, _ := r.seq(fields["users"], "users")
	for i, n := range users {
		r.user(n, fmt.Sprintf("users[%d]", i))
	}
	return true
}

func (r *reader) entity(n *yaml.Node, path string) {
	f, ok := r.mapping(n, path, entityFields)
	if !ok {
		return
	}
	id, ok1 := r.str(f["id"], path+".id")
	name, ok2 := r.str(f["name"], path+".name")
	parent, ok3 := r.str(f["parent"], path+".parent")
	display, ok4 := r.str(f["displayName"], path+".displayName")
	locale, ok5 := r.str(f["locale"], path+".locale")
	timezone, ok6 := r.str(f["timezone"], path+".timezone")
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 {
		return
	}
	r.entities = append(r.entities, domain.Entity{ID: id, Name: name, ParentID: parent, DisplayName: display, Locale: locale, Timezone: timezone})
	r.entityPath = append(r.entityPath, path)
}

func (r *reader) user(n *yaml.Node, path string) {
	f, ok := r.mapping(n, path, userFields)
	if !ok {
		return
	}
	id, ok1 := r.str(f["id"], path+".id")
	name, ok2 := r.str(f["name"], path+".name")
	clientID, ok3 := r.str(f["clientId"], path+".clientId")
	secret, ok4 := r.str(f["clientSecret"], path+".clientSecret")
	grants, ok5 := r.seq(f["access"], path+".access")
	hash, ok6 := r.str(f["clientSecretHash"], path+".clientSecretHash")
	service, ok7 := r.boolean(f["service"], path+".service")
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || !ok7 {
		return
	}
	if hash != "" {
		hp := path + ".clientSecretHash"
		if secret != "" {
			r.add(f["clientSecretHash"], hp, "give clientSecret or clientSecretHash, not both")
		} else if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			r.add(f["clientSecretHash"], hp, "is not a bcrypt hash (make one with: htpasswd -nbBC 10 \"\" secret | cut -c2-)")
		}
	}
	if secret != "" {
		sp := path + ".clientSecret"
		if n := utf8.RuneCountInString(secret); n < minSecretChars {
			r.add(f["clientSecret"], sp, "is %d characters long; want at least %d", n, minSecretChars)
		} else if len(secret) > maxSecretBytes {
			r.add(f["clientSecret"], sp, "is %d bytes long; bcrypt reads at most %d", len(secret), maxSecretBytes)
		}
	}
	u := fileUser{user: domain.User{ID: id, Name: name, ClientID: clientID, Service: service}, secret: secret, hash: hash}
	var gpaths []string
	for j, g := range grants {
		gp := fmt.Sprintf("%s.access[%d]", path, j)
		f, ok := r.mapping(g, gp, grantFields)
		if !ok {
			continue
		}
		entity, ok1 := r.str(f["entity"], gp+".entity")
		role, ok2 := r.str(f["role"], gp+".role")
		if !ok1 || !ok2 {
			continue
		}
		u.user.Access = append(u.user.Access, domain.Grant{Entity: entity, Role: domain.Role(role)})
		gpaths = append(gpaths, gp)
	}
	r.users = append(r.users, u)
	r.userPath = append(r.userPath, path)
	r.grantPath = append(r.grantPath, gpaths)
}

// mapping returns the values of the mapping n by field name, reporting fields not in known
// and duplicate fields. ok is false when n is not a mapping.
func (r *reader) mapping(n *yaml.Node, path string, known []string) (fields map[string]*yaml.Node, ok bool) {
	r.nodes[path] = n
	m := deref(n)
	if m.Kind != yaml.MappingNode {
		r.wrongKind(n, path, "a mapping of "+strings.Join(known, ", "))
		return nil, false
	}
	fields = make(map[string]*yaml.Node, len(known))
	keys := make(map[string]*yaml.Node, len(known))
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		key := deref(k)
		if key.Kind != yaml.ScalarNode {
			r.add(k, path, "a field name must be a string, not %s", describe(key))
			continue
		}
		fp := join(path, key.Value)
		switch first, dup := keys[key.Value]; {
		case key.ShortTag() == "!!merge":
			r.add(k, fp, "merge keys are not supported; write the fields out")
		case !slices.Contains(known, key.Value):
			r.add(k, fp, "unknown field %q; want one of %s", key.Value, strings.Join(known, ", "))
		case dup:
			r.add(k, fp, "duplicate field %q, first at line %d", key.Value, first.Line)
		default:
			keys[key.Value] = k
			fields[key.Value] = v
			r.nodes[fp] = v
		}
	}
	return fields, true
}

// str returns the string at n, "" when n is absent or null. ok is false when n is not a
// scalar. Scalars of other YAML types (123, true) count as the text written.
func (r *reader) str(n *yaml.Node, path string) (s string, ok bool) {
	if n == nil {
		return "", true
	}
	switch v := deref(n); {
	case v.Kind != yaml.ScalarNode:
		r.wrongKind(n, path, "a string")
		return "", false
	case v.ShortTag() == "!!null":
		return "", true
	default:
		return v.Value, true
	}
}

// boolean returns the YAML boolean n, false when n is absent or null. ok is false when n is
// anything else (a string such as "yes" included: the file says true or false).
func (r *reader) boolean(n *yaml.Node, path string) (b, ok bool) {
	if n == nil {
		return false, true
	}
	switch v := deref(n); {
	case v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null":
		return false, true
	case v.Kind == yaml.ScalarNode && v.ShortTag() == "!!bool" && v.Decode(&b) == nil:
		return b, true
	default:
		r.wrongKind(n, path, "true or false")
		return false, false
	}
}

// seq returns the items of the sequence n, none when n is absent or null. ok is false when
// n is not a sequence.
func (r *reader) seq(n *yaml.Node, path string) (items []*yaml.Node, ok bool) {
	if n == nil {
		return nil, true
	}
	switch v := deref(n); {
	case v.Kind == yaml.SequenceNode:
		return v.Content, true
	case v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null":
		return nil, true
	default:
		r.wrongKind(n, path, "a list")
		return nil, false
	}
}

// validate runs the domain's checks on what read found and reports its problems at the
// lines they come from. Secrets are not hashed yet, so the domain sees a stand-in hash for
// each secret that is present.
func (r *reader) validate() {
	users := make([]domain.User, len(r.users))
	for i, u := range r.users {
		users[i] = u.user
		if u.secret != "" || u.hash != "" {
			users[i].SecretHash = "not hashed yet"
		}
	}
	_, ps := domain.NewDirectory(r.tenant, r.entities, users)
	for _, p := range ps {
		path := r.filePath(p.Path)
		if r.broken[path] {
			continue // already reported as the wrong kind of value
		}
		r.add(r.locate(path), path, "%s", p.Message)
	}
}

// domainPath matches the indexed prefix of a [domain.Problem] path.
var domainPath = regexp.MustCompile(`^(entities|users)\[(\d+)\](?:\.access\[(\d+)\])?`)

// filePath turns a path of the domain's slices into one of the file.
func (r *reader) filePath(path string) string {
	m := domainPath.FindStringSubmatch(path)
	if m == nil {
		return path
	}
	i, _ := strconv.Atoi(m[2])
	var prefix string
	switch {
	case m[1] == "entities" && i < len(r.entityPath):
		prefix = r.entityPath[i]
	case m[1] == "users" && i < len(r.userPath) && m[3] == "":
		prefix = r.userPath[i]
	case m[1] == "users" && i < len(r.userPath):
		j, _ := strconv.Atoi(m[3])
		if j >= len(r.grantPath[i]) {
			return path
		}
		prefix = r.grantPath[i][j]
	default:
		return path
	}
	return prefix + path[len(m[0]):]
}

// locate returns the node written at path or, when the file has no value there (a missing
// field), at its nearest enclosing path.
func (r *reader) locate(path string) *yaml.Node {
	for {
		if n, ok := r.nodes[path]; ok {
			return n
		}
		if path == "" {
			return nil
		}
		if i := strings.LastIndexAny(path, ".["); i >= 0 {
			path = path[:i]
		} else {
			path = ""
		}
	}
}

// content returns the node a document holds, or the node itself.
func content(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		return n.Content[0]
	}
	return n
}

// deref follows an alias to its anchored node. The schema has a fixed depth and unknown
// fields are not walked, so following aliases cannot blow up the way generic decoding can.
func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "nothing"
		}
		return "a " + strings.TrimPrefix(n.ShortTag(), "!!") + " value"
	default:
		return "an empty document"
	}
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}
