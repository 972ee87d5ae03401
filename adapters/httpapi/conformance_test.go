package httpapi

import (
	_ "embed"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/entityconn/entityconn/adapters/zuora"
	"github.com/entityconn/entityconn/events/contract"
)

// These tests hold the API to testdata/zuora-excerpt.yaml, an excerpt of Zuora's public API
// reference: openapi.yaml must describe each of Zuora's fields with a type and values Zuora
// allows, and the API's answers on a real stack must have those fields with such values.
// What entityconn adds to Zuora's shapes is listed here, in extras: a new field fails until
// it is named, so that every difference is a decision.

//go:embed testdata/zuora-excerpt.yaml
var zuoraExcerpt []byte

// conformant pairs a schema of the excerpt with the schema of openapi.yaml that answers it.
var conformant = []struct{ zuora, ours string }{
	{"Entity", "Entity"},
	{"EntitiesResponse", "EntityList"},
	{"AccessibleEntitiesResponse", "AccessibleEntityList"},
	{"ErrorBody", "ErrorBody"},
	{"Reason", "Reason"},
	{"TokenResponse", "TokenResponse"},
	{"OAuthErrorBody", "OAuthErrorBody"},
}

// extras are the fields entityconn adds to Zuora's shapes, by path (an array's items are
// "[]"), with the reason.
var extras = map[string]string{
	"AccessibleEntitiesResponse.entities[].role": "the user's role in the entity, which the page needs (contract §4)",
	"OAuthErrorBody.success":                     "the Zuora error body's fields, which Zuora clients read on every error",
	"OAuthErrorBody.processId":                   "the Zuora error body's fields, which Zuora clients read on every error",
	"OAuthErrorBody.reasons":                     "the Zuora error body's fields, which Zuora clients read on every error",
}

// excerpt is the parsed excerpt.
type excerpt struct {
	root map[string]any
}

func loadExcerpt(t *testing.T) *excerpt {
	t.Helper()
	var raw any
	if err := yaml.Unmarshal(zuoraExcerpt, &raw); err != nil {
		t.Fatalf("zuora-excerpt.yaml does not parse: %v", err)
	}
	root, ok := normalize(raw).(map[string]any)
	if !ok {
		t.Fatal("zuora-excerpt.yaml: top level is not a mapping")
	}
	return &excerpt{root: root}
}

func (x *excerpt) schema(t *testing.T, name string) map[string]any {
	t.Helper()
	schemas, _ := x.root["schemas"].(map[string]any)
	s, ok := schemas[name].(map[string]any)
	if !ok {
		t.Fatalf("zuora-excerpt.yaml: no schema %s", name)
	}
	return s
}

// resolve follows a schema's ref to the excerpt's schema of that name.
func (x *excerpt) resolve(t *testing.T, s map[string]any) map[string]any {
	t.Helper()
	if ref, ok := s["ref"].(string); ok {
		return x.schema(t, ref)
	}
	return s
}

// Every part of the excerpt names its sources, and each is a source the excerpt lists.
func TestZuoraExcerptNamesItsSources(t *testing.T) {
	x := loadExcerpt(t)
	sources, _ := x.root["sources"].(map[string]any)
	if len(sources) == 0 {
		t.Fatal("zuora-excerpt.yaml lists no sources")
	}
	check := func(what string, node map[string]any) {
		names := strs(node["source"])
		if len(names) == 0 {
			t.Errorf("%s names no source", what)
		}
		for _, n := range names {
			if _, ok := sources[n]; !ok {
				t.Errorf("%s names source %s, which the excerpt does not list", what, n)
			}
		}
	}
	for _, part := range []string{"categories", "errorCode"} {
		m, _ := x.root[part].(map[string]any)
		check(part, m)
	}
	for _, group := range []string{"schemas", "headers"} {
		m, _ := x.root[group].(map[string]any)
		for name, s := range m {
			check(group+"."+name, s.(map[string]any))
		}
	}
}

// Each schema of openapi.yaml that answers one of Zuora's has Zuora's fields, with Zuora's
// types and values, Zuora's required fields among its own, and no field of its own beyond
// the extras.
func TestOpenAPIAgreesWithZuorasReference(t *testing.T) {
	x, d := loadExcerpt(t), loadOpenAPI(t)
	for _, c := range conformant {
		compareSchema(t, x, d, c.zuora, x.schema(t, c.zuora), d.schema(t, c.ours))
	}

	// Our error codes: 8 digits, a resource code in Zuora's range, and one of its categories.
	codes, _ := x.root["categories"].(map[string]any)["codes"].(map[string]any)
	ec, _ := x.root["errorCode"].(map[string]any)
	resource := zuora.CodeBase / 100
	if len(strconv.Itoa(zuora.CodeBase)) != num(ec["digits"]) || resource < num(ec["resourceCodeMin"]) || resource > num(ec["resourceCodeMax"]) {
		t.Errorf("CodeBase %d: want %v digits, resource code %d within Zuora's [%v, %v]", zuora.CodeBase, ec["digits"], resource, ec["resourceCodeMin"], ec["resourceCodeMax"])
	}
	for _, c := range contract.Categories {
		if _, ok := codes[strconv.Itoa(int(c))]; !ok {
			t.Errorf("category %d (%s) is not one of Zuora's", c, c)
		}
	}
	// And every one of Zuora's categories is ours, but for its integration errors.
	for code, name := range codes {
		n, _ := strconv.Atoi(code)
		if n != 99 && !slices.Contains(contract.Categories, contract.Category(n)) {
			t.Errorf("Zuora's category %s (%v) has no constant in events/contract", code, name)
		}
	}

	h, _ := x.root["headers"].(map[string]any)["Zuora-Request-Id"].(map[string]any)
	rid := d.deref(t, d.root["components"].(map[string]any)["headers"].(map[string]any)["RequestId"])["schema"].(map[string]any)
	if num(rid["minLength"]) != num(h["length"]) || num(rid["maxLength"]) != num(h["length"]) {
		t.Errorf("components.headers.RequestId length [%v, %v], want %v as Zuora's", rid["minLength"], rid["maxLength"], h["length"])
	}
}

// compareSchema compares our schema (of openapi.yaml) with Zuora's (of the excerpt) at path.
func compareSchema(t *testing.T, x *excerpt, d *openAPIDoc, path string, zs, ours map[string]any) {
	t.Helper()
	zs = x.resolve(t, zs)
	ours = d.flatten(t, d.deref(t, ours))
	zTypes, oTypes := strs(zs["type"]), strs(ours["type"])
	if len(oTypes) == 0 && ours["properties"] != nil {
		oTypes = []string{"object"}
	}
	for _, ot := range oTypes {
		if !slices.Contains(zTypes, ot) && !(ot == "integer" && slices.Contains(zTypes, "number")) {
			t.Errorf("%s: our type %v, Zuora's %v", path, oTypes, zTypes)
		}
	}
	if zEnum := strs(zs["enum"]); zEnum != nil {
		ourValues := strs(ours["enum"])
		if c, ok := ours["const"]; ok {
			ourValues = []string{fmt.Sprint(c)}
		}
		if ourValues == nil {
			t.Errorf("%s: Zuora allows only %v; ours allows any value", path, zEnum)
		}
		for _, v := range ourValues {
			if !slices.Contains(zEnum, v) {
				t.Errorf("%s: our value %q is not one of Zuora's %v", path, v, zEnum)
			}
		}
	}
	if zi, ok := zs["items"].(map[string]any); ok {
		oi, ok := ours["items"].(map[string]any)
		if !ok {
			t.Errorf("%s: Zuora's is an array of items; ours has no items", path)
		} else {
			compareSchema(t, x, d, path+"[]", zi, oi)
		}
	}
	zProps, _ := zs["properties"].(map[string]any)
	oProps, _ := ours["properties"].(map[string]any)
	for name, zp := range zProps {
		op, ok := oProps[name]
		if !ok {
			t.Errorf("%s.%s: Zuora's field is missing from ours", path, name)
			continue
		}
		compareSchema(t, x, d, path+"."+name, zp.(map[string]any), op.(map[string]any))
	}
	for name := range oProps {
		if _, ok := zProps[name]; !ok && extras[path+"."+name] == "" && zProps != nil {
			t.Errorf("%s.%s: a field of ours that Zuora's has not, and not among the extras", path, name)
		}
	}
	oRequired := strs(ours["required"])
	for _, r := range strs(zs["required"]) {
		if !slices.Contains(oRequired, r) {
			t.Errorf("%s: Zuora requires %s; ours does not", path, r)
		}
	}
}

// The API's answers on a real stack have Zuora's fields, of Zuora's types and values.
func TestAnswersAgreeWithZuorasReference(t *testing.T) {
	x := loadExcerpt(t)
	a := startAPI(t, nil, nil)
	rid, _ := x.root["headers"].(map[string]any)["Zuora-Request-Id"].(map[string]any)
	check := func(what, schema string, r reply, status int) {
		t.Helper()
		if r.status != status {
			t.Fatalf("%s = %d %s, want %d", what, r.status, r.raw, status)
		}
		validate(t, x, what+": "+schema, schema, x.schema(t, schema), r.body)
		if id := r.header.Get(HeaderRequestID); len(id) != num(rid["length"]) {
			t.Errorf("%s: %s %q, want %v characters", what, HeaderRequestID, id, rid["length"])
		}
	}
	check("GET /v1/entities", "EntitiesResponse", a.call(t, "GET", "/v1/entities", a.token("viv"), "", ""), http.StatusOK)
	check("GET /v1/users/viv/accessible-entities", "AccessibleEntitiesResponse", a.call(t, "GET", "/v1/users/viv/accessible-entities", a.token("viv"), "", ""), http.StatusOK)
	check("GET /v1/users/root/accessible-entities (403)", "ErrorBody", a.call(t, "GET", "/v1/users/root/accessible-entities", a.token("viv"), "", ""), http.StatusForbidden)
	check("POST /v1/entity-connections with an unknown field", "ErrorBody", a.call(t, "POST", "/v1/entity-connections", a.token("root"), "global", `{"target":"eu"}`), http.StatusBadRequest)
	check("GET /v1/nothing", "ErrorBody", a.call(t, "GET", "/v1/nothing", a.token("root"), "", ""), http.StatusNotFound)

	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"root"}, "client_secret": {"root-secret"}}
	token := func(form url.Values) reply {
		return a.call(t, "POST", "/oauth/token", "", "", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	}
	check("POST /oauth/token", "TokenResponse", token(form), http.StatusOK)
	form.Set("client_secret", "guess")
	check("POST /oauth/token with a wrong secret", "OAuthErrorBody", token(form), http.StatusUnauthorized)
	form.Set("grant_type", "password")
	check("POST /oauth/token with another grant", "OAuthErrorBody", token(form), http.StatusBadRequest)

	// The codes of error answers: Zuora's categories.
	codes, _ := x.root["categories"].(map[string]any)["codes"].(map[string]any)
	for _, r := range []reply{
		a.call(t, "GET", "/v1/entities", "", "", ""),
		a.call(t, "POST", "/v1/entity-connections", a.token("root"), "global", `{"targetEntityId":`),
		a.call(t, "POST", "/v1/entity-connections", a.token("root"), "global", `{}`),
	} {
		if _, ok := codes[strconv.Itoa(r.code()%100)]; !ok {
			t.Errorf("answer %s: code %d is of no category of Zuora's", r.raw, r.code())
		}
	}
}

// validate checks the JSON value v against Zuora's schema s at path (whose extras, if any,
// are named by where: a schema name and the fields and [] below it).
func validate(t *testing.T, x *excerpt, path, where string, s map[string]any, v any) {
	t.Helper()
	s = x.resolve(t, s)
	if !slices.Contains(strs(s["type"]), jsonType(v)) && !(jsonType(v) == "integer" && slices.Contains(strs(s["type"]), "number")) {
		t.Errorf("%s = %v (%s), want %v", path, v, jsonType(v), s["type"])
		return
	}
	if enum := strs(s["enum"]); enum != nil && !slices.Contains(enum, fmt.Sprint(v)) {
		t.Errorf("%s = %v, want one of %v", path, v, enum)
	}
	switch x2 := v.(type) {
	case []any:
		items, _ := s["items"].(map[string]any)
		for i, e := range x2 {
			validate(t, x, fmt.Sprintf("%s[%d]", path, i), where+"[]", items, e)
		}
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for _, r := range strs(s["required"]) {
			if _, ok := x2[r]; !ok {
				t.Errorf("%s: Zuora's required %s is missing", path, r)
			}
		}
		names := make([]string, 0, len(x2))
		for k := range x2 {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			p, ok := props[k].(map[string]any)
			if !ok {
				if extras[where+"."+k] == "" {
					t.Errorf("%s.%s: a field Zuora's has not, and not among the extras", path, k)
				}
				continue
			}
			validate(t, x, path+"."+k, where+"."+k, p, x2[k])
		}
		for k := range props {
			if _, ok := x2[k]; !ok {
				t.Errorf("%s: Zuora's field %s is absent", path, k)
			}
		}
	}
}

// jsonType names the JSON Schema type of a value decoded by encoding/json.
func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		if x == math.Trunc(x) {
			return "integer"
		}
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return strings.ToLower(fmt.Sprintf("%T", v))
}
