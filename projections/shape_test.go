package projections_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events/contract"
	"github.com/entityconn/entityconn/projections"
)

// jsonShape returns the JSON names of t's fields in order, each with the kind of its type.
func jsonShape(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		out = append(out, name+" "+f.Type.Kind().String())
	}
	return out
}

// TestViewIsTheListItemPlusSequence keeps the value of the views bucket (contract §5) the
// list item of contract §4 with "sequence" added: same fields, same order, same encoding.
func TestViewIsTheListItemPlusSequence(t *testing.T) {
	item := jsonShape(reflect.TypeFor[contract.Connection]())
	if got, want := jsonShape(reflect.TypeFor[projections.View]()), append(item, "sequence uint64"); !slices.Equal(got, want) {
		t.Fatalf("View fields = %v, want contract.Connection's and a sequence: %v", got, want)
	}

	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	v := projections.View{ID: "c1", SourceEntityID: "global", TargetEntityID: "eu", Status: domain.StatusConnected,
		RequestedBy: "alice", RequestedAt: at, UpdatedAt: at.Add(time.Minute), Sequence: 7}
	c := contract.Connection{ID: v.ID, SourceEntityID: v.SourceEntityID, TargetEntityID: v.TargetEntityID, Status: string(v.Status),
		RequestedBy: v.RequestedBy, RequestedAt: v.RequestedAt, UpdatedAt: v.UpdatedAt}
	gotView, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	gotItem, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if want := string(gotItem[:len(gotItem)-1]) + `,"sequence":7}`; string(gotView) != want {
		t.Errorf("Marshal(View) = %s, want the list item plus its sequence: %s", gotView, want)
	}
}
