package directoryfile_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/entityconn/entityconn/adapters/directoryfile"
)

// directorySeeds adds every directory file of testdata, good and bad, and the demo.
func directorySeeds(f *testing.F) [][]byte {
	files, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	seeds := [][]byte{directoryfile.Demo()}
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, data)
	}
	return seeds
}

// FuzzParse feeds any bytes to the directory file parser. It must never panic; a file it
// refuses is refused with a *FileError listing at least one problem; a file it accepts
// gives a directory whose stored form decodes to the same directory, and parsing the file
// again against that directory gives it unchanged (secret hashes reused).
//
// Run it with: go test -run='^$' -fuzz=FuzzParse -fuzztime=30s ./adapters/directoryfile/
func FuzzParse(f *testing.F) {
	for _, s := range directorySeeds(f) {
		f.Add(s)
	}
	for _, s := range []string{
		"", "---", "tenant: acme\n---\n", "[]", "tenant: [a", "{tenant: acme, entities: [{id: global, name: G}], users: []}",
		"tenant: acme\nentities:\n  - {id: global, name: G}\nusers:\n  - {id: u, clientId: u, clientSecretHash: '$2a$04$abcdefghijklmnopqrstuu', access: [{entity: global, role: admin}]}\n",
		"tenant: acme\nentities:\n  - {id: global, name: G}\nusers:\n  - {id: u, clientId: u, clientSecret: 'ﬀﬀﬀﬀﬀﬀﬀﬀ', access: [{entity: global, role: user}]}\n",
		"a: &a [*a]", "tenant: !!binary aGVsbG8=", "tenant: 0x1F\nentities: ~\nusers: ~\n", "<<: {tenant: x}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := directoryfile.ParseWith(data, nil, fast)
		if err != nil {
			var fe *directoryfile.FileError
			if !errors.As(err, &fe) || len(fe.Problems) == 0 || !errors.Is(err, directoryfile.ErrInvalidFile) {
				t.Fatalf("ParseWith(%q) = %v, want a *FileError with problems", data, err)
			}
			return
		}
		stored := mustEncode(t, d)
		back, err := directoryfile.Decode(stored)
		if err != nil {
			t.Fatalf("Decode(Encode(ParseWith(%q))) = %v; stored %s", data, err, stored)
		}
		if again := mustEncode(t, back); !bytes.Equal(again, stored) {
			t.Fatalf("stored form of %q changes through Decode:\n%s\n%s", data, stored, again)
		}
		reparsed, err := directoryfile.ParseWith(data, d, fast)
		if err != nil {
			t.Fatalf("ParseWith(%q) again = %v", data, err)
		}
		if again := mustEncode(t, reparsed); !bytes.Equal(again, stored) {
			t.Fatalf("parsing %q against its own directory changes it:\n%s\n%s", data, stored, again)
		}
	})
}

// FuzzDecode feeds any bytes to the stored form's decoder (what the directory bucket holds).
// It must never panic; it refuses with ErrInvalidStored; a directory it accepts encodes to
// a stored form that decodes to the same directory.
//
// Run it with: go test -run='^$' -fuzz=FuzzDecode -fuzztime=30s ./adapters/directoryfile/
func FuzzDecode(f *testing.F) {
	for _, s := range directorySeeds(f) {
		if d, err := directoryfile.ParseWith(s, nil, fast); err == nil {
			data, err := directoryfile.Encode(d)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	for _, s := range []string{
		``, `null`, `{}`, `{"version":1}`, `{"version":2,"tenant":"acme"}`, `{"version":1} {}`, `{"version":1,"extra":true}`,
		`{"version":1,"tenant":"acme","entities":[{"id":"global","name":"G"}],"users":[{"id":"u","clientId":"u","secretHash":"x","access":[{"entity":"global","role":"admin"}]}]}`,
		`{"version":1,"tenant":"acme","entities":[{"id":"global","name":"G"}],"users":[{"id":"u","clientId":"u","secretHash":"","access":[]}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := directoryfile.Decode(data)
		if err != nil {
			if !errors.Is(err, directoryfile.ErrInvalidStored) {
				t.Fatalf("Decode(%q) = %v, want an error wrapping ErrInvalidStored", data, err)
			}
			return
		}
		stored := mustEncode(t, d)
		back, err := directoryfile.Decode(stored)
		if err != nil {
			t.Fatalf("Decode(Encode(Decode(%q))) = %v; stored %s", data, err, stored)
		}
		if again := mustEncode(t, back); !bytes.Equal(again, stored) {
			t.Fatalf("stored form of %q changes through Decode:\n%s\n%s", data, stored, again)
		}
	})
}
