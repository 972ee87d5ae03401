package events_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/entityconn/entityconn/events"
)

// catalogPath is the event catalog for other services, which must show the published shapes.
const catalogPath = "../docs/events.md"

// catalogSection is a "### <Type>" section of the catalog: the first json block under it.
type catalogSection struct {
	count int    // how many headings name the type
	json  string // "" if the section has no json block
}

// typeWord matches what looks like an event type name.
var typeWord = regexp.MustCompile(`\bConnection[A-Z][A-Za-z0-9]*`)

// parseCatalog returns the "### <name>" sections of a markdown document. Lines starting with
// # inside code blocks are not headings.
func parseCatalog(doc string) map[string]*catalogSection {
	sections := map[string]*catalogSection{}
	var cur *catalogSection
	inFence, inJSON := false, false
	var block strings.Builder
	sc := bufio.NewScanner(strings.NewReader(doc))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```") && !inFence:
			inFence = true
			inJSON = cur != nil && cur.json == "" && strings.TrimSpace(line) == "```json"
			block.Reset()
		case strings.HasPrefix(line, "```"):
			inFence = false
			if inJSON {
				cur.json = block.String()
				inJSON = false
			}
		case inFence:
			block.WriteString(line + "\n")
		case strings.HasPrefix(line, "#"):
			cur = nil
			if name, ok := strings.CutPrefix(line, "### "); ok {
				name = strings.TrimSpace(name)
				if sections[name] == nil {
					sections[name] = &catalogSection{}
				}
				cur = sections[name]
				cur.count++
			}
		}
	}
	return sections
}

// catalogProblems returns how doc differs from the event types and their golden files.
func catalogProblems(doc string, golden func(events.Type) (string, error)) []string {
	var problems []string
	sections := parseCatalog(doc)
	for _, typ := range events.Types {
		want, err := golden(typ)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		s := sections[string(typ)]
		switch {
		case s == nil:
			problems = append(problems, fmt.Sprintf("no section \"### %s\"", typ))
		case s.count > 1:
			problems = append(problems, fmt.Sprintf("%d sections \"### %s\", want one", s.count, typ))
		case s.json == "":
			problems = append(problems, fmt.Sprintf("section %s has no ```json block", typ))
		case strings.TrimRight(s.json, " \t\r\n") != strings.TrimRight(want, " \t\r\n"):
			problems = append(problems, fmt.Sprintf("the json block of section %s is\n%s\nwant events/testdata/%s.json:\n%s", typ, s.json, typ, want))
		}
	}
	// A type that does not exist, in a heading or anywhere else.
	for _, w := range typeWord.FindAllString(doc, -1) {
		if !events.Type(w).Known() {
			problems = append(problems, fmt.Sprintf("the catalog mentions %s, which is not in events.Types", w))
		}
	}
	return problems
}

func readGolden(typ events.Type) (string, error) {
	b, err := os.ReadFile(filepath.Join("testdata", string(typ)+".json"))
	return string(b), err
}

func TestCatalogShowsEveryTypeAsPublished(t *testing.T) {
	doc, err := os.ReadFile(catalogPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range catalogProblems(string(doc), readGolden) {
		t.Errorf("%s: %s", catalogPath, p)
	}
}

// TestCatalogCheckCatchesDrift makes sure the check above fails for the drifts it is for.
func TestCatalogCheckCatchesDrift(t *testing.T) {
	b, err := os.ReadFile(catalogPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	accepted, err := readGolden(events.TypeConnectionAccepted)
	if err != nil {
		t.Fatal(err)
	}
	accepted = strings.TrimRight(accepted, "\n")
	drifts := map[string]string{
		"an example edited":   strings.Replace(doc, accepted, strings.Replace(accepted, `"reason":""`, `"reason":null`, 1), 1),
		"a section removed":   strings.Replace(doc, "### ConnectionExpired", "### Expiry", 1),
		"a section twice":     doc + "\n### ConnectionDenied\n\n```json\n{}\n```\n",
		"a type not in Types": doc + "\n### ConnectionPaused\n",
		"a type in the prose": strings.Replace(doc, "## Versioning", "## Versioning\n\nConnectionRenewedV2 is coming.", 1),
		"an example removed":  strings.Replace(doc, "```json\n"+accepted+"\n```", "", 1),
	}
	for name, drifted := range drifts {
		if drifted == doc {
			t.Errorf("%s: the drift did not apply; update this test with the catalog", name)
			continue
		}
		if len(catalogProblems(drifted, readGolden)) == 0 {
			t.Errorf("%s: the catalog check finds no problem", name)
		}
	}
}
