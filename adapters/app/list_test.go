package app_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/projections"
)

// Every door's list goes through ListQuery.Validate before any arithmetic on the page: a
// number out of range is an invalid value that names the parameter.
func TestListQueryValidate(t *testing.T) {
	ok := app.ListQuery{Page: 1, PageSize: 30}
	with := func(f func(*app.ListQuery)) app.ListQuery {
		q := ok
		f(&q)
		return q
	}
	cases := []struct {
		name    string
		q       app.ListQuery
		mention string // "" means valid
	}{
		{"defaults", ok, ""},
		{"largest page and size", with(func(q *app.ListQuery) { q.Page, q.PageSize = app.MaxPage, app.MaxPageSize }), ""},
		{"both directions and a status", with(func(q *app.ListQuery) { q.Direction, q.Status = projections.Inbound, domain.StatusDenied }), ""},
		{"page 0", with(func(q *app.ListQuery) { q.Page = 0 }), "page 0"},
		{"negative page", with(func(q *app.ListQuery) { q.Page = math.MinInt }), "page -9223372036854775808"},
		{"page past the largest", with(func(q *app.ListQuery) { q.Page = app.MaxPage + 1 }), "page 1000001"},
		{"page whose offset overflows", with(func(q *app.ListQuery) { q.Page, q.PageSize = 4611686018427387905, 2 }), "page 4611686018427387905"},
		{"largest int page", with(func(q *app.ListQuery) { q.Page = math.MaxInt }), "page 9223372036854775807"},
		{"size 0", with(func(q *app.ListQuery) { q.PageSize = 0 }), "pageSize 0"},
		{"size 301", with(func(q *app.ListQuery) { q.PageSize = 301 }), "pageSize 301"},
		{"largest int size", with(func(q *app.ListQuery) { q.PageSize = math.MaxInt }), "pageSize 9223372036854775807"},
		{"unknown direction", with(func(q *app.ListQuery) { q.Direction = "sideways" }), "type"},
		{"unknown status", with(func(q *app.ListQuery) { q.Status = "Sleeping" }), "status"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.q.Validate()
			if c.mention == "" {
				if err != nil {
					t.Fatalf("Validate(%+v) = %v, want nil", c.q, err)
				}
				return
			}
			if !errors.Is(err, domain.ErrInvalidValue) || !strings.Contains(err.Error(), c.mention) {
				t.Fatalf("Validate(%+v) = %v, want an invalid value naming %q", c.q, err, c.mention)
			}
		})
	}
}
