package httpapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/domain"
)

// Zuora error categories: the last two digits of an error code (contract §4).
const (
	CategoryPermission     = 10
	CategoryAuthentication = 11
	CategoryInvalidValue   = 20
	CategoryMissingValue   = 21
	CategoryRuleViolation  = 30
	CategoryNotFound       = 40
	CategoryConflict       = 50
	CategoryInternal       = 99
)

// codeBase is the object part of entityconn's Zuora error codes: code = codeBase + category.
const codeBase = 53000000

var errBodyTooLarge = fmt.Errorf("%w: request body larger than 64 KiB", domain.ErrInvalidValue)

// errorTable maps error families to an HTTP status and a Zuora category: the one place this
// edge does so. Order matters: specific errors first, families after.
var errorTable = []struct {
	err      error
	status   int
	category int
}{
	{errBodyTooLarge, http.StatusRequestEntityTooLarge, CategoryInvalidValue},
	{natsjs.ErrKeyReused, http.StatusUnprocessableEntity, CategoryInvalidValue},
	{natsjs.ErrInFlight, http.StatusConflict, CategoryConflict},
	{app.ErrUnavailable, http.StatusServiceUnavailable, CategoryConflict},
	{domain.ErrUnauthenticated, http.StatusUnauthorized, CategoryAuthentication},
	{domain.ErrPermission, http.StatusForbidden, CategoryPermission},
	{domain.ErrMissingValue, http.StatusBadRequest, CategoryMissingValue},
	{domain.ErrInvalidValue, http.StatusBadRequest, CategoryInvalidValue},
	{domain.ErrRuleViolation, http.StatusConflict, CategoryRuleViolation},
	{domain.ErrNotFound, http.StatusNotFound, CategoryNotFound},
	{domain.ErrConflict, http.StatusConflict, CategoryConflict},
}

// classify returns the HTTP status and Zuora code of err.
func classify(err error) (status, code int) {
	for _, row := range errorTable {
		if errors.Is(err, row.err) {
			return row.status, codeBase + row.category
		}
	}
	return http.StatusInternalServerError, codeBase + CategoryInternal
}

// Reason is one entry of a Zuora error body.
type Reason struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// ErrorBody is the Zuora error body (contract §4).
type ErrorBody struct {
	Success   bool     `json:"success"`
	ProcessID string   `json:"processId"`
	Reasons   []Reason `json:"reasons"`
}
