package main

import (
	"strings"
	"testing"
)

func TestVersionAndDidYouMean(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var out, errb syncBuffer
		if code := run(t.Context(), args, func(string) string { return "" }, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "entityconn ") || !strings.Contains(out.String(), " go1.") {
			t.Errorf("entityconn %s: exit %d, stdout %q; want 0 and a version line", args[0], code, out.String())
		}
	}
	for _, c := range []struct{ typed, want string }{
		{"lsit", `unknown command "lsit": did you mean "list"?`},
		{"serv", `unknown command "serv": did you mean "serve"?`},
		{"frobnicate", `unknown command "frobnicate"` + "\n"},
	} {
		var out, errb syncBuffer
		code := run(t.Context(), []string{c.typed}, func(string) string { return "" }, &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), c.want) || !strings.Contains(errb.String(), `run "entityconn help"`) {
			t.Errorf("entityconn %s: exit %d, stderr %q; want 2 and %q", c.typed, code, errb.String(), c.want)
		}
	}
}
