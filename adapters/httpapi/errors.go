package httpapi

import "github.com/entityconn/entityconn/adapters/zuora"

// ErrorBody is the Zuora error body (contract §4).
type ErrorBody = zuora.ErrorBody

// Reason is one entry of a Zuora error body.
type Reason = zuora.Reason

var errBodyTooLarge = zuora.ErrBodyTooLarge
