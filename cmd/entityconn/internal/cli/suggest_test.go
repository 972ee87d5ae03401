package cli

import (
	"runtime"
	"strings"
	"testing"
)

func TestSuggest(t *testing.T) {
	commands := []string{"serve", "request", "list", "shared", "share", "settings", "version", "--version"}
	tests := []struct {
		word, want string
		ok         bool
	}{
		{"lsit", "list", true},
		{"serv", "serve", true},
		{"reqest", "request", true},
		{"settigns", "settings", true},
		{"--versoin", "--version", true},
		{"foo", "", false},
		{"li", "", false},
		{"deploy", "", false},
	}
	for _, tt := range tests {
		got, ok := Suggest(tt.word, commands)
		if ok != tt.ok || ok && got != tt.want {
			t.Errorf("Suggest(%q) = %q, %v; want %q, %v", tt.word, got, ok, tt.want, tt.ok)
		}
	}
}

func TestVersion(t *testing.T) {
	v := Version("entityconn")
	if !strings.HasPrefix(v, "entityconn ") || !strings.Contains(v, runtime.Version()) || !strings.HasSuffix(v, runtime.GOOS+"/"+runtime.GOARCH) {
		t.Errorf("Version = %q, want the name, the module version, the Go version and the platform", v)
	}
}
