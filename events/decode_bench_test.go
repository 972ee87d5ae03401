package events_test

import (
	"testing"

	"github.com/entityconn/entityconn/events"
)

func BenchmarkDecode(b *testing.B) {
	data, _ := events.Encode(examples()[2])
	b.ReportAllocs()
	for b.Loop() {
		if _, err := events.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	e := examples()[2]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := events.Encode(e); err != nil {
			b.Fatal(err)
		}
	}
}
