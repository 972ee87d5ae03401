package zuora

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/entityconn/entityconn/domain"
)

// DecodeJSON decodes data, one JSON object, into v (a pointer to a struct), the way every
// door reads a request body, so that one body gets one answer whichever door it came
// through. It returns an error wrapping
//   - [ErrMalformed] when data is not JSON, is another JSON value than an object (a list, a
//     string), or has anything but white space after the object;
//   - [ErrUnknownField] when the object has a field v does not;
//   - [domain.ErrInvalidValue] when a field's value is of the wrong JSON type, such as a
//     number for a string.
//
// Field names match as encoding/json matches them: case-insensitively. Empty data is the
// caller's to refuse or accept before. DecodeJSON is safe for concurrent use.
func DecodeJSON(data []byte, v any) error {
	// encoding/json reports an unknown field with no error type of its own. So the body is
	// first decoded, into a scratch value, without refusing unknown fields: what fails there
	// is the syntax or a type, told apart by their types. What fails only when unknown
	// fields are refused is an unknown field.
	scratch := reflect.New(reflect.TypeOf(v).Elem()).Interface()
	if err := decodeOne(data, scratch, false); err != nil {
		return err
	}
	if err := decodeOne(data, v, true); err != nil {
		return fmt.Errorf("%w: request body: %s", ErrUnknownField, strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// decodeOne decodes data into v, refusing unknown fields when strict; the errors of syntax,
// type and trailing data are classified, any other is returned as is.
func decodeOne(data []byte, v any, strict bool) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if strict {
		dec.DisallowUnknownFields()
	}
	err := dec.Decode(v)
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case err == nil:
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("%w: the request body is not valid JSON: %s", ErrMalformed, strings.TrimPrefix(err.Error(), "json: "))
	case errors.As(err, &typ) && typ.Field == "":
		return fmt.Errorf("%w: the request body must be a JSON object, not %s", ErrMalformed, article(typ.Value))
	case errors.As(err, &typ):
		return fmt.Errorf("%w: request body: %s: want %s, got %s", domain.ErrInvalidValue, typ.Field, article(jsonKind(typ.Type)), article(typ.Value))
	default:
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: the request body has data after the JSON object", ErrMalformed)
	}
	return nil
}

// jsonKind names the JSON value that decodes into t.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "bool"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "number"
	}
	return t.String()
}

// article puts "a" or "an" before a JSON kind, as encoding/json names them ("string",
// "array", "object", "number", "bool").
func article(kind string) string {
	if kind != "" && strings.ContainsRune("aeiou", rune(kind[0])) {
		return "an " + kind
	}
	return "a " + kind
}
