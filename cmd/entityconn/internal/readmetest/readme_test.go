//go:build unix

// Package readmetest runs the README as written: every shell block marked
// <!-- readme-test --> in README.md, in order, with bash, against a fresh entityconn serve
// built from this repository on random ports; each command's answer is compared with what
// the README shows under it.
//
// # The convention
//
// A block to run is a ```sh block on the line after <!-- readme-test -->. Its commands run as
// a reader would paste them, in one bash, so that variables and functions carry from one to
// the next (and from one block to the next). Under a command, comment lines that start with
// "# → " say what it must answer:
//
//	# → 200                        the last HTTP answer of the command (curl) had status 200
//	# → 409 {"reasons":[{"code":53000030}]}
//	                               ... and a JSON body holding these fields with these values
//	# → {"status":"Pending"}       a line of the command's output holds JSON (after any prefix)
//	                               with these fields
//	# → status Pending, sequence … a line of the output contains this text
//	# → exit 1                     the command exits with status 1 (0 is required otherwise)
//
// In JSON, an object matches one that has at least its fields, each matching; an array
// matches one of the same length whose items match; "…" matches any value, and a string
// with "…" in it any string that has its other parts around it. In text, runs of spaces
// count as one and "…" matches anything. A JSON expectation may go on over the comment lines
// after it until its brackets close. The output of background jobs (nats sub … &) counts as
// the output of the command that is running when it arrives: an expectation not met when its
// command ends is waited for a few seconds.
//
// The commands run as written, in a temporary directory (serve's data is its ./data), with
// four substitutions, in the commands and in the expectations: localhost:8080 and
// 127.0.0.1:8080 name the test's serve, localhost:4222 and 127.0.0.1:4222 its NATS server;
// "go run ./cmd/entityconn" is the binary built from the repository, and "nats" the nats CLI
// built from cmd/entityconn/internal/readmetest/natscli (the version the README names). ENTITYCONN_URL,
// ENTITYCONN_HTTP_ADDR and ENTITYCONN_NATS_LISTEN make the defaults of the CLI and of serve
// those addresses; HOME (and XDG_CONFIG_HOME) is a temporary directory.
//
// Run it alone with
//
//	go test -count=1 -run TestREADME ./cmd/entityconn/internal/readmetest/
package readmetest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/entityconn/entityconn/adapters/apptest"
)

// marker is the line before a block that the test runs.
const marker = "<!-- readme-test -->"

// step is one command of the README with what it must answer.
type step struct {
	line    int // of README.md, where the command starts
	command string
	expects []expect
}

// expect is one "# → " line (and its continuation lines).
type expect struct {
	line int
	text string // after the arrow
}

// parseREADME returns the commands of the marked blocks of readme, in order.
func parseREADME(readme string) ([]step, error) {
	lines := strings.Split(readme, "\n")
	var steps []step
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != marker {
			continue
		}
		if i+1 >= len(lines) || strings.TrimSpace(lines[i+1]) != "```sh" {
			return nil, fmt.Errorf("README.md:%d: %s is not followed by a ```sh block", i+1, marker)
		}
		end := i + 2
		for end < len(lines) && strings.TrimSpace(lines[end]) != "```" {
			end++
		}
		if end == len(lines) {
			return nil, fmt.Errorf("README.md:%d: the block does not end", i+2)
		}
		block, err := parseBlock(lines[i+2:end], i+3)
		if err != nil {
			return nil, err
		}
		steps = append(steps, block...)
		i = end
	}
	if len(steps) == 0 {
		return nil, fmt.Errorf("README.md has no block marked %s", marker)
	}
	return steps, nil
}

// arrow starts an expectation: "#", spaces, "→ ".
var arrow = regexp.MustCompile(`^#\s*→\s?(.*)$`)

// parseBlock splits a block's lines (the first is README.md's line first) into commands and
// their expectations.
func parseBlock(lines []string, first int) ([]step, error) {
	var steps []step
	var cmd []string
	cmdLine := 0
	var open *expect // a JSON expectation whose brackets are not closed yet
	for n, l := range lines {
		trimmed := strings.TrimSpace(l)
		if cmd != nil {
			cmd = append(cmd, l)
			if complete(strings.Join(cmd, "\n")) {
				steps = append(steps, step{line: cmdLine, command: strings.Join(cmd, "\n")})
				cmd = nil
			}
			continue
		}
		if open != nil {
			if !strings.HasPrefix(trimmed, "#") {
				return nil, fmt.Errorf("README.md:%d: the JSON of the expectation does not close", open.line)
			}
			open.text += strings.TrimSpace(strings.TrimPrefix(trimmed, "#"))
			if balanced(open.text) {
				open = nil
			}
			continue
		}
		switch {
		case trimmed == "":
		case arrow.MatchString(trimmed):
			if len(steps) == 0 {
				return nil, fmt.Errorf("README.md:%d: an expectation before any command", first+n)
			}
			last := &steps[len(steps)-1]
			last.expects = append(last.expects, expect{line: first + n, text: strings.TrimSpace(arrow.FindStringSubmatch(trimmed)[1])})
			if e := &last.expects[len(last.expects)-1]; !balanced(e.text) {
				open = e
			}
		case strings.HasPrefix(trimmed, "#"):
		default:
			cmd, cmdLine = []string{l}, first+n
			if complete(l) {
				steps = append(steps, step{line: cmdLine, command: l})
				cmd = nil
			}
		}
	}
	if cmd != nil {
		return nil, fmt.Errorf("README.md:%d: the command does not end", cmdLine)
	}
	if open != nil {
		return nil, fmt.Errorf("README.md:%d: the JSON of the expectation does not close", open.line)
	}
	for _, st := range steps {
		for _, e := range st.expects {
			j := e.text
			if m := statusLine.FindStringSubmatch(j); m != nil {
				j = m[2]
			}
			if (strings.HasPrefix(j, "{") || strings.HasPrefix(j, "[")) && !json.Valid([]byte(j)) {
				return nil, fmt.Errorf("README.md:%d: the expectation is not JSON: %s", e.line, j)
			}
		}
	}
	return steps, nil
}

// statusLine is an expectation of an HTTP status, and maybe a body.
var statusLine = regexp.MustCompile(`^(\d{3})(?:\s+(.*))?$`)

// complete reports whether src is a whole shell command: no quote left open, as many
// brackets closed as opened (outside quotes and comments), and no line continued with a
// backslash, a pipe or && / ||. It is a reader's rule of thumb, not a shell parser: the
// README's blocks keep to what it reads (no case statements).
func complete(src string) bool {
	var single, double, escaped bool
	depth := 0
	for _, line := range strings.Split(src, "\n") {
		escaped = false
		for i := 0; i < len(line); i++ {
			c := line[i]
			switch {
			case single:
				single = c != '\''
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case double:
				double = c != '"'
			case c == '\'':
				single = true
			case c == '"':
				double = true
			case c == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
				i = len(line) // a comment
			case c == '(' || c == '{':
				depth++
			case c == ')' || c == '}':
				depth--
			}
		}
	}
	if escaped {
		return false // a backslash at the end of the last line: the command goes on
	}
	code := strings.TrimSpace(stripComment(src[strings.LastIndex(src, "\n")+1:]))
	return !single && !double && depth <= 0 &&
		!strings.HasSuffix(code, "|") && !strings.HasSuffix(code, "&&") && !strings.HasSuffix(code, "||")
}

// stripComment drops a trailing comment of one line (outside quotes).
func stripComment(line string) string {
	var single, double bool
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case single:
			single = c != '\''
		case double:
			double = c != '"'
		case c == '\'':
			single = true
		case c == '"':
			double = true
		case c == '#' && (i == 0 || line[i-1] == ' '):
			return line[:i]
		}
	}
	return line
}

// balanced reports whether the brackets of a JSON text (outside strings) all close.
func balanced(s string) bool {
	depth, inString, escaped := 0, false, false
	for _, c := range s {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
		}
	}
	return depth <= 0
}

func TestREADME(t *testing.T) {
	if testing.Short() {
		t.Skip("builds entityconn and the nats CLI, and runs serve")
	}
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s: %v; CI is set, so the README test must run", tool, err)
			}
			t.Skipf("README test skipped: %s not found (with env CI set it fails instead)", tool)
		}
	}
	root := repoRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	steps, err := parseREADME(string(readme))
	if err != nil {
		t.Fatal(err)
	}

	began := time.Now()
	bin := t.TempDir()
	build(t, root, filepath.Join(bin, "entityconn"), "./cmd/entityconn")
	build(t, filepath.Join(root, "cmd", "entityconn", "internal", "readmetest", "natscli"), filepath.Join(bin, "nats"), "github.com/nats-io/natscli/nats")
	t.Logf("built entityconn and the nats CLI in %v", time.Since(began).Round(100*time.Millisecond))

	t.Run("directory error", func(t *testing.T) { checkDirectoryError(t, string(readme), filepath.Join(bin, "entityconn")) })

	work, home := t.TempDir(), t.TempDir()
	// natscli finds its contexts under XDG_CONFIG_HOME, else the home directory of the
	// system's user, not $HOME.
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "LANG=C.UTF-8", "TZ=UTC"}
	httpAddr, natsAddr := startServe(t, filepath.Join(bin, "entityconn"), work, env)

	sh := startBash(t, work, append(env,
		"ENTITYCONN_URL=http://"+httpAddr, "ENTITYCONN_HTTP_ADDR="+httpAddr, "ENTITYCONN_NATS_LISTEN="+natsAddr))
	dir := t.TempDir()
	sh.send(fmt.Sprintf(`EC_DIR=%q; EC_STEP=0
curl() { command curl -D "$EC_DIR/$EC_STEP.headers" "$@" | tee "$EC_DIR/$EC_STEP.body"; return "${PIPESTATUS[0]}"; }
go() {
  if [ "$1" = run ] && [ "$2" = ./cmd/entityconn ]; then shift 2; %q "$@"
  else echo "README test: only go run ./cmd/entityconn runs here, not go $*" >&2; return 127; fi
}
nats() { NATS_URL=%q %q "$@"; }
`, dir, filepath.Join(bin, "entityconn"), "nats://"+natsAddr, filepath.Join(bin, "nats")))

	run := time.Now()
	addrs := strings.NewReplacer("localhost:8080", httpAddr, "127.0.0.1:8080", httpAddr,
		"localhost:4222", natsAddr, "127.0.0.1:4222", natsAddr)
	for n, st := range steps {
		command := addrs.Replace(st.command)
		for i := range st.expects {
			st.expects[i].text = addrs.Replace(st.expects[i].text)
		}
		from := sh.offset()
		sh.send(fmt.Sprintf("EC_STEP=%d\n%s\nprintf '\\n\\036END %d %%s\\n' \"$?\"\n", n, command, n))
		code, err := sh.waitEnd(n, time.Minute)
		if err != nil {
			t.Fatalf("README.md:%d: %v\n%s\noutput:\n%s", st.line, err, st.command, sh.since(from))
		}
		check(t, st, code, sh, from, filepath.Join(dir, strconv.Itoa(n)))
	}
	t.Logf("ran %d commands of README.md in %v", len(steps), time.Since(run).Round(100*time.Millisecond))
}

// checkDirectoryError runs serve with the README's directory file, its last line's role
// made "owner", and compares what serve says with the README's quote of it.
func checkDirectoryError(t *testing.T, readme, exe string) {
	file, err := fencedAfter(readme, "<!-- directory-file -->")
	if err != nil {
		t.Fatal(err)
	}
	want, err := fencedAfter(readme, "<!-- directory-error -->")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(file, "\n"), "\n")
	last := lines[len(lines)-1]
	if !strings.Contains(last, "role: user") {
		t.Fatalf("the last line of the README's directory file, %q, has no role: user to make owner", last)
	}
	lines[len(lines)-1] = strings.Replace(last, "role: user", "role: owner", 1)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "directory.yaml"), []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "serve", "--data", "data", "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", "--directory", "directory.yaml")
	cmd.Dir, cmd.Env = dir, []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	cmd.WaitDelay = time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	timer := time.AfterFunc(time.Minute, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	if err := cmd.Run(); err == nil {
		t.Fatal("serve took the README's directory file with role: owner")
	}
	if got := strings.TrimSpace(stderr.String()); got != strings.TrimSpace(want) {
		t.Errorf("serve with role: owner in the README's directory file says\n%s\nthe README says\n%s", got, strings.TrimSpace(want))
	}
}

// fencedAfter returns the body of the fenced block on the line after marker in readme.
func fencedAfter(readme, marker string) (string, error) {
	_, rest, ok := strings.Cut(readme, "\n"+marker+"\n")
	if !ok || !strings.HasPrefix(rest, "```") {
		return "", fmt.Errorf("README.md has no fenced block after %s", marker)
	}
	_, rest, _ = strings.Cut(rest, "\n")
	body, _, ok := strings.Cut(rest, "\n```")
	if !ok {
		return "", fmt.Errorf("README.md: the block after %s does not end", marker)
	}
	return body + "\n", nil
}

// check compares what step st answered with its expectations: its exit status code, the
// output of the shell from offset from on, and the last HTTP answer its curl calls stored
// under prefix.
func check(t *testing.T, st step, code int, sh *shell, from int, prefix string) {
	t.Helper()
	wantCode := 0
	for _, e := range st.expects {
		if m := regexp.MustCompile(`^exit (\d+)$`).FindStringSubmatch(e.text); m != nil {
			wantCode, _ = strconv.Atoi(m[1])
		}
	}
	fail := func(e expect, format string, args ...any) {
		t.Errorf("README.md:%d: %s\n    # → %s\n  %s\n  output:\n%s", e.line, firstLine(st.command), e.text,
			fmt.Sprintf(format, args...), indent(sh.since(from)))
	}
	if code != wantCode {
		fail(expect{line: st.line, text: "exit " + strconv.Itoa(wantCode)}, "exit status %d", code)
	}
	for _, e := range st.expects {
		if m := statusLine.FindStringSubmatch(e.text); m != nil {
			status, body, err := lastHTTPAnswer(prefix)
			if err != nil {
				fail(e, "%v", err)
				continue
			}
			if strconv.Itoa(status) != m[1] {
				fail(e, "HTTP status %d, body %s", status, body)
				continue
			}
			if m[2] != "" {
				if err := matchJSON(m[2], body); err != nil {
					fail(e, "body %s: %v", body, err)
				}
			}
			continue
		}
		if strings.HasPrefix(e.text, "exit ") {
			continue
		}
		var found func(output string) bool
		if strings.HasPrefix(e.text, "{") || strings.HasPrefix(e.text, "[") {
			found = func(output string) bool {
				for _, l := range strings.Split(output, "\n") {
					if j := jsonIn(l); j != nil && matchJSON(e.text, j) == nil {
						return true
					}
				}
				return false
			}
		} else {
			pattern := textPattern(e.text)
			found = func(output string) bool {
				for _, l := range strings.Split(output, "\n") {
					if pattern.MatchString(strings.Join(strings.Fields(l), " ")) {
						return true
					}
				}
				return false
			}
		}
		// The output of background jobs may come after the command has ended.
		deadline := time.Now().Add(5 * time.Second)
		for !found(sh.since(from)) {
			if time.Now().After(deadline) {
				fail(e, "no line of the output matches")
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// jsonIn returns the JSON at the end of line, after any prefix ("[time] PUT ENTITYCONN_VIEWS >
// key: {…}"), or nil.
func jsonIn(line string) []byte {
	line = strings.TrimSpace(line)
	for i := range len(line) {
		if line[i] == '{' || line[i] == '[' {
			if j := []byte(line[i:]); json.Valid(j) {
				return j
			}
		}
	}
	return nil
}

// lastHTTPAnswer reads the status and the body of the last answer curl stored under prefix.
func lastHTTPAnswer(prefix string) (int, []byte, error) {
	headers, err := os.ReadFile(prefix + ".headers")
	if err != nil {
		return 0, nil, errors.New("the command made no HTTP request (with curl)")
	}
	body, _ := os.ReadFile(prefix + ".body")
	// With -i the body holds the headers too; the blank line after the last ones ends them.
	for bytes.HasPrefix(body, []byte("HTTP/")) {
		i := bytes.Index(body, []byte("\r\n\r\n"))
		if i < 0 {
			break
		}
		body = body[i+4:]
	}
	status := 0
	for _, l := range strings.Split(string(headers), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && strings.HasPrefix(f[0], "HTTP/") {
			status, _ = strconv.Atoi(f[1])
		}
	}
	if status == 0 {
		return 0, nil, fmt.Errorf("no HTTP answer (curl stored %q)", headers)
	}
	return status, bytes.TrimSpace(body), nil
}

// textPattern turns a text expectation into a regular expression: runs of spaces are one
// space, "…" is anything.
func textPattern(text string) *regexp.Regexp {
	parts := strings.Split(strings.Join(strings.Fields(text), " "), "…")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile(strings.Join(parts, ".*"))
}

// matchJSON reports how got differs from the JSON expectation want, nil if it matches.
func matchJSON(want string, got []byte) error {
	var w, g any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		return fmt.Errorf("the expectation is not JSON: %v", err)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		return fmt.Errorf("the answer is not JSON: %v", err)
	}
	return matchValue("", w, g)
}

func matchValue(path string, want, got any) error {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s is %s, want an object", where(path), show(got))
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				return fmt.Errorf("%s has no field %q", where(path), k)
			}
			if err := matchValue(path+"."+k, wv, gv); err != nil {
				return err
			}
		}
		return nil
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Errorf("%s is %s, want %d items", where(path), show(got), len(w))
		}
		for i := range w {
			if err := matchValue(fmt.Sprintf("%s[%d]", path, i), w[i], g[i]); err != nil {
				return err
			}
		}
		return nil
	case string:
		if w == "…" {
			return nil
		}
		if g, ok := got.(string); ok && strings.Contains(w, "…") && textPattern(w).MatchString(g) && strings.HasPrefix(g, strings.Split(w, "…")[0]) {
			return nil
		}
	}
	if show(want) != show(got) {
		return fmt.Errorf("%s is %s, want %s", where(path), show(got), show(want))
	}
	return nil
}

func where(path string) string {
	if path == "" {
		return "the answer"
	}
	return path[1:]
}

func show(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "    (none)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// repoRoot finds the repository's root: the directory of the module's go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module github.com/entityconn/entityconn\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod of github.com/entityconn/entityconn above the test's directory")
		}
		dir = parent
	}
}

// build builds pkg in the module of dir into out.
func build(t *testing.T, dir, out, pkg string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

// startServe runs "entityconn serve" in work (its data in work/data, as the README says) on
// random ports, waits until it is ready and returns its HTTP and NATS addresses; it is
// stopped with SIGTERM when the test ends.
func startServe(t *testing.T, exe, work string, env []string) (httpAddr, natsAddr string) {
	t.Helper()
	cmd := exec.Command(exe, "serve", "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0")
	cmd.Dir, cmd.Env = work, env
	var stderr syncBuffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("serve did not stop within 30s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("serve's log:\n%s", stderr.String())
		}
	})
	httpLine := regexp.MustCompile(`^HTTP listening on http://(\S+)`)
	natsLine := regexp.MustCompile(`listening on nats://(\S+)`)
	lines := bufio.NewScanner(out)
	for httpAddr == "" && lines.Scan() {
		if m := natsLine.FindStringSubmatch(lines.Text()); m != nil {
			natsAddr = m[1]
		}
		if m := httpLine.FindStringSubmatch(lines.Text()); m != nil {
			httpAddr = m[1]
		}
	}
	if httpAddr == "" || natsAddr == "" {
		t.Fatalf("serve printed no addresses; its log:\n%s", stderr.String())
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return httpAddr, natsAddr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready within 30s; its log:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// shell is a bash that reads commands on its standard input; its standard output and error,
// and those of its background jobs, go to one buffer.
type shell struct {
	t     *testing.T
	stdin io.WriteCloser
	out   syncBuffer
}

// startBash starts bash in dir with env, in a process group of its own that is killed, with
// the background jobs the README starts, when the test ends.
func startBash(t *testing.T, dir string, env []string) *shell {
	t.Helper()
	cmd := exec.Command("bash", "--noprofile", "--norc")
	cmd.Dir, cmd.Env = dir, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	sh := &shell{t: t}
	cmd.Stdout, cmd.Stderr = &sh.out, &sh.out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	sh.stdin = stdin
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	return sh
}

func (sh *shell) send(s string) {
	if _, err := io.WriteString(sh.stdin, s); err != nil {
		sh.t.Fatalf("bash: %v", err)
	}
}

func (sh *shell) offset() int { return sh.out.Len() }

// since returns the output from offset from on, without the test's end markers.
func (sh *shell) since(from int) string {
	out := sh.out.From(from)
	return endMarker.ReplaceAllString(out, "")
}

var endMarker = regexp.MustCompile(`\n?\x1eEND \d+ \d+\n`)

// waitEnd waits for the end marker of step n and returns the command's exit status.
func (sh *shell) waitEnd(n int, within time.Duration) (int, error) {
	marker := regexp.MustCompile(fmt.Sprintf(`\x1eEND %d (\d+)\n`, n))
	deadline := time.Now().Add(within)
	for {
		if m := marker.FindStringSubmatch(sh.out.From(0)); m != nil {
			code, _ := strconv.Atoi(m[1])
			return code, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("the command did not end within %v (is it waiting for input, or for ever?)", within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// syncBuffer is apptest.SyncBuffer: written by a command or server while the test reads it.
type syncBuffer = apptest.SyncBuffer
