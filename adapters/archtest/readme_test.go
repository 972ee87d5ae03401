package archtest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The README's architecture section names the files of the accept path in order: each must
// exist, so that the walk it describes stays true when files move.
func TestREADMEAcceptPathFilesExist(t *testing.T) {
	root := filepath.Join("..", "..")
	data, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(data), "<!-- accept-path -->")
	block, _, ok2 := strings.Cut(block, "<!-- /accept-path -->")
	if !ok || !ok2 {
		t.Fatal("README.md has no <!-- accept-path --> block")
	}
	files := regexp.MustCompile("(?m)^\\d+\\. `([^`]+)`").FindAllStringSubmatch(block, -1)
	if len(files) != 5 {
		t.Fatalf("the accept path names %d files, want 5", len(files))
	}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(root, f[1])); err != nil {
			t.Errorf("the README's accept path names %s: %v", f[1], err)
		}
	}
}
