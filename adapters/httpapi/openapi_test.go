package httpapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/wire"
	"github.com/entityconn/entityconn/adapters/zuora"
	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
	"github.com/entityconn/entityconn/events/contract"
	"github.com/entityconn/entityconn/projections"
)

// These tests keep openapi.yaml true to the code (contract §4: "a test checks it"): the
// routes, the error responses, the limits and the JSON field names all come from the Go
// declarations, so a change on either side that is not made on the other fails here.

// httpMethods are the operation keys of an OpenAPI path item.
var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// errorResponseRef is the one shared error response every error status refers to, but those
// of the token endpoint, which refer to oauthErrorResponseRef.
const (
	errorResponseRef      = "#/components/responses/Error"
	oauthErrorResponseRef = "#/components/responses/OAuthError"
)

type openAPIDoc struct {
	root map[string]any
}

// operation is one documented path + method.
type operation struct {
	method string // lower case, as in the document
	path   string
	node   map[string]any
}

func (o operation) String() string { return strings.ToUpper(o.method) + " " + o.path }

func loadOpenAPI(t *testing.T) *openAPIDoc {
	t.Helper()
	if len(openAPI) == 0 {
		t.Fatal("openapi.yaml is empty")
	}
	var raw any
	if err := yaml.Unmarshal(openAPI, &raw); err != nil {
		t.Fatalf("openapi.yaml does not parse as YAML: %v", err)
	}
	root, ok := normalize(raw).(map[string]any)
	if !ok {
		t.Fatalf("openapi.yaml: top level is %T, want a mapping", raw)
	}
	return &openAPIDoc{root: root}
}

// normalize turns the map[any]any YAML may produce (non-string keys such as an unquoted
// 200) into map[string]any, recursively.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = normalize(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
		return x
	}
	return v
}

// pointer resolves a local reference such as #/components/schemas/Connection.
func (d *openAPIDoc) pointer(ref string) (any, bool) {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, false
	}
	var cur any = d.root
	for _, tok := range strings.Split(rest, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// deref follows $ref until it reaches a node without one.
func (d *openAPIDoc) deref(t *testing.T, node any) map[string]any {
	t.Helper()
	for range 10 {
		m, ok := node.(map[string]any)
		if !ok {
			t.Fatalf("expected a mapping, got %T", node)
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		if node, ok = d.pointer(ref); !ok {
			t.Fatalf("$ref %q does not resolve", ref)
		}
	}
	t.Fatal("$ref chain too long")
	return nil
}

func (d *openAPIDoc) operations(t *testing.T) []operation {
	t.Helper()
	paths, ok := d.root["paths"].(map[string]any)
	if !ok {
		t.Fatal("openapi.yaml: no paths")
	}
	var ops []operation
	for p, item := range paths {
		im, ok := item.(map[string]any)
		if !ok {
			t.Fatalf("paths[%q] is %T, want a mapping", p, item)
		}
		for k, v := range im {
			if !slices.Contains(httpMethods, strings.ToLower(k)) {
				continue
			}
			if k != strings.ToLower(k) {
				t.Errorf("paths[%q]: method key %q must be lower case", p, k)
			}
			node, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%s %s is %T, want a mapping", k, p, v)
			}
			ops = append(ops, operation{method: strings.ToLower(k), path: p, node: node})
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].String() < ops[j].String() })
	return ops
}

// parameters returns op's parameters, resolved, by "in:name".
func (d *openAPIDoc) parameters(t *testing.T, op operation) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	list, _ := op.node["parameters"].([]any)
	for _, p := range list {
		pm := d.deref(t, p)
		in, _ := pm["in"].(string)
		name, _ := pm["name"].(string)
		out[in+":"+name] = pm
	}
	return out
}

func (d *openAPIDoc) responses(t *testing.T, op operation) map[string]any {
	t.Helper()
	rs, ok := op.node["responses"].(map[string]any)
	if !ok || len(rs) == 0 {
		t.Fatalf("%s: no responses", op)
	}
	return rs
}

func (d *openAPIDoc) schema(t *testing.T, name string) map[string]any {
	t.Helper()
	s, ok := d.pointer("#/components/schemas/" + name)
	if !ok {
		t.Fatalf("components.schemas.%s is missing", name)
	}
	return d.deref(t, s)
}

func TestOpenAPIVersionAndInfo(t *testing.T) {
	d := loadOpenAPI(t)
	v := fmt.Sprint(d.root["openapi"])
	if !strings.HasPrefix(v, "3.1") {
		t.Errorf("openapi: %q, want 3.1.x", v)
	}
	info, _ := d.root["info"].(map[string]any)
	if info["title"] != "entityconn" {
		t.Errorf("info.title: %v, want entityconn", info["title"])
	}
	if fmt.Sprint(info["version"]) != "1.0.0" {
		t.Errorf("info.version: %v, want 1.0.0", info["version"])
	}
}

func TestOpenAPIDocumentsExactlyTheRoutes(t *testing.T) {
	d := loadOpenAPI(t)
	documented := map[string]bool{}
	for _, op := range d.operations(t) {
		documented[op.String()] = true
	}
	routes := map[string]bool{}
	for _, rt := range Routes() {
		key := strings.ToUpper(rt.Method) + " " + rt.Path
		routes[key] = true
		if !documented[key] {
			t.Errorf("route %s is not documented in openapi.yaml (paths[%q].%s)", key, rt.Path, strings.ToLower(rt.Method))
		}
	}
	for key := range documented {
		if !routes[key] {
			t.Errorf("openapi.yaml documents %s, which is not a route of Routes()", key)
		}
	}
}

func TestOpenAPIRefsResolve(t *testing.T) {
	d := loadOpenAPI(t)
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"]; ok {
				s, isStr := ref.(string)
				switch {
				case !isStr:
					t.Errorf("%s.$ref is %T, want a string", path, ref)
				case !strings.HasPrefix(s, "#/components/"):
					t.Errorf("%s.$ref %q: only local #/components/ references are used", path, s)
				default:
					if _, ok := d.pointer(s); !ok {
						t.Errorf("%s.$ref %q does not resolve to a component", path, s)
					}
				}
			}
			for k, e := range x {
				walk(path+"."+k, e)
			}
		case []any:
			for i, e := range x {
				walk(path+"["+strconv.Itoa(i)+"]", e)
			}
		}
	}
	walk("$", d.root)
}

func TestOpenAPIErrorResponses(t *testing.T) {
	d := loadOpenAPI(t)

	shared, ok := d.pointer(errorResponseRef)
	if !ok {
		t.Fatalf("%s is missing", errorResponseRef)
	}
	if ref := schemaRef(shared, "application/json"); ref != "#/components/schemas/ErrorBody" {
		t.Errorf("%s: application/json schema is %q, want #/components/schemas/ErrorBody", errorResponseRef, ref)
	}
	oauth, _ := d.pointer(oauthErrorResponseRef)
	if ref := schemaRef(oauth, "application/json"); ref != "#/components/schemas/OAuthErrorBody" {
		t.Errorf("%s: application/json schema is %q, want #/components/schemas/OAuthErrorBody", oauthErrorResponseRef, ref)
	}

	statusesDocumented := map[string]bool{}
	limited := map[string]bool{}
	for _, rt := range Routes() {
		limited[strings.ToUpper(rt.Method)+" "+rt.Path] = rt.limited
	}
	for _, op := range d.operations(t) {
		rs := d.responses(t, op)
		params := d.parameters(t, op)
		need := map[string]bool{}
		v1 := strings.HasPrefix(op.path, "/v1/")
		command := v1 && (op.method == "post" || op.method == "put")
		if op.node["requestBody"] != nil {
			// A body can be malformed (400), too large (413), and the request carries
			// credentials (401).
			for _, s := range []string{"400", "401", "413"} {
				need[s] = true
			}
			// A JSON body can come with another Content-Type (415).
			if ct, _ := d.pointer("#/paths/" + strings.ReplaceAll(op.path, "/", "~1") + "/" + op.method + "/requestBody/content/application~1json"); ct != nil {
				need["415"] = true
			}
		}
		if v1 {
			for _, s := range []string{"400", "401", "503"} {
				need[s] = true
			}
			if _, ok := op.node["security"].([]any); !ok {
				t.Errorf("%s: no security requirement (the /v1 API needs a bearer token)", op)
			}
		}
		if command {
			for _, s := range []string{"400", "401", "403", "409", "413", "422", "503"} {
				need[s] = true
			}
			if _, ok := params["header:"+HeaderIdempotencyKey]; !ok {
				t.Errorf("%s: the %s header parameter is not documented", op, HeaderIdempotencyKey)
			}
			success := d.deref(t, rs["200"])
			hs, _ := success["headers"].(map[string]any)
			for _, h := range []string{HeaderSequence, HeaderReplayed, HeaderRequestID, HeaderTrackID} {
				if _, found := hs[h]; !found {
					t.Errorf("%s: the 200 response does not document the %s header", op, h)
				}
			}
		}
		if _, ok := params["header:"+HeaderIdempotencyKey]; ok {
			need["409"], need["422"] = true, true
		}
		if strings.Contains(op.path, "{id}") {
			need["404"] = true
			id, ok := params["path:id"]
			if !ok {
				t.Errorf("%s: the path parameter id is not documented", op)
			} else if sch, _ := id["schema"].(map[string]any); sch["format"] != "uuid" || id["required"] != true {
				t.Errorf("%s: path parameter id must be required with format uuid", op)
			}
		}
		if limited[op.String()] {
			need["429"] = true
		} else if _, ok := rs["429"]; ok {
			t.Errorf("%s: documents 429, but the route has no limit that answers it", op)
		}
		for s := range need {
			if _, ok := rs[s]; !ok {
				t.Errorf("%s: response %s is not documented", op, s)
			}
		}
		for s, r := range rs {
			statusesDocumented[s] = true
			code, err := strconv.Atoi(s)
			if err != nil && s != "default" {
				t.Errorf("%s: response key %q is not a status code", op, s)
				continue
			}
			if code < 400 || (!v1 && op.path != "/oauth/token") {
				continue
			}
			rm, _ := r.(map[string]any)
			want := errorResponseRef
			if op.path == "/oauth/token" {
				want = oauthErrorResponseRef
			}
			if rm["$ref"] != want {
				t.Errorf("%s: response %s must be $ref %s, got %v", op, s, want, rm["$ref"])
			}
		}
	}
	for _, row := range zuora.Table() {
		if s := strconv.Itoa(row.Status); !statusesDocumented[s] {
			t.Errorf("the error table maps %v to %d, but no operation documents %s", row.Err, row.Status, s)
		}
	}
}

func TestOpenAPIContentTypes(t *testing.T) {
	d := loadOpenAPI(t)
	want := map[string]string{
		"GET /metrics":                       "text/plain",
		"GET /openapi.yaml":                  "application/yaml",
		"POST /oauth/token":                  "application/json",
		"GET /v1/entity-connections/changes": "text/event-stream",
	}
	for _, op := range d.operations(t) {
		success := d.deref(t, d.responses(t, op)["200"])
		content, _ := success["content"].(map[string]any)
		ct, special := want[op.String()]
		if !special {
			ct = "application/json"
		}
		if _, found := content[ct]; !found || len(content) != 1 {
			t.Errorf("%s: 200 response content types %v, want only %s", op, keys(content), ct)
		}
	}
	body, _ := d.pointer("#/paths/~1oauth~1token/post/requestBody/content")
	if m, _ := body.(map[string]any); m["application/x-www-form-urlencoded"] == nil {
		t.Error("POST /oauth/token: request body must be application/x-www-form-urlencoded")
	}

	// The served document is the embedded one, as YAML.
	rec := httptest.NewRecorder()
	New(Config{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.yaml", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/yaml" || rec.Body.String() != string(openAPI) {
		t.Errorf("GET /openapi.yaml: %d %q, %d bytes; want 200 application/yaml with the embedded document",
			rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len())
	}
}

func TestOpenAPISecurity(t *testing.T) {
	d := loadOpenAPI(t)
	bearer, ok := d.pointer("#/components/securitySchemes/bearer")
	if b, _ := bearer.(map[string]any); !ok || b["type"] != "http" || b["scheme"] != "bearer" {
		t.Errorf("securitySchemes.bearer: %v, want type http, scheme bearer", bearer)
	}
	tokenURL, ok := d.pointer("#/components/securitySchemes/oauth2/flows/clientCredentials/tokenUrl")
	if !ok || tokenURL != "/oauth/token" {
		t.Errorf("securitySchemes.oauth2 clientCredentials tokenUrl: %v, want /oauth/token", tokenURL)
	}
	for _, op := range d.operations(t) {
		if !strings.HasPrefix(op.path, "/v1/") {
			continue
		}
		sec, _ := op.node["security"].([]any)
		var names []string
		for _, req := range sec {
			for name := range req.(map[string]any) {
				names = append(names, name)
			}
			if len(req.(map[string]any)) == 0 {
				t.Errorf("%s: security must not allow anonymous calls", op)
			}
		}
		if !slices.Contains(names, "bearer") {
			t.Errorf("%s: security %v does not name bearer", op, names)
		}
	}
}

func TestOpenAPIParametersMatchCode(t *testing.T) {
	d := loadOpenAPI(t)

	// Every documented occurrence of a parameter must agree, so collect them all.
	seen := map[string][]map[string]any{}
	for _, op := range d.operations(t) {
		for key, p := range d.parameters(t, op) {
			seen[key] = append(seen[key], p)
			if strings.HasPrefix(key, "header:") {
				name := strings.TrimPrefix(key, "header:")
				if !slices.Contains([]string{HeaderEntityIDs, HeaderTrackID, HeaderIdempotencyKey}, name) {
					t.Errorf("%s: header parameter %q is not one the server reads", op, name)
				}
			}
		}
	}
	each := func(key string, check func(schema map[string]any)) {
		t.Helper()
		if len(seen[key]) == 0 {
			t.Errorf("parameter %s is not documented on any operation", key)
		}
		for _, p := range seen[key] {
			s, ok := p["schema"].(map[string]any)
			if !ok {
				t.Errorf("parameter %s has no schema", key)
				continue
			}
			check(d.deref(t, s))
		}
	}

	wantStatuses := make([]string, len(domain.Statuses))
	for i, s := range domain.Statuses {
		wantStatuses[i] = string(s)
	}
	each("query:status", func(s map[string]any) {
		if got := strs(s["enum"]); !slices.Equal(got, wantStatuses) {
			t.Errorf("query status enum %v, want domain.Statuses %v", got, wantStatuses)
		}
	})
	if got := strs(d.schema(t, "Status")["enum"]); !slices.Equal(got, wantStatuses) {
		t.Errorf("schema Status enum %v, want domain.Statuses %v", got, wantStatuses)
	}
	each("query:type", func(s map[string]any) {
		want := []string{string(projections.Outbound), string(projections.Inbound)}
		if got := strs(s["enum"]); !slices.Equal(got, want) {
			t.Errorf("query type enum %v, want %v", got, want)
		}
	})
	each("query:pageSize", func(s map[string]any) {
		if num(s["maximum"]) != app.MaxPageSize || num(s["minimum"]) != 1 || num(s["default"]) != defaultPageSize {
			t.Errorf("query pageSize: minimum %v maximum %v default %v, want 1, app.MaxPageSize %d, %d",
				s["minimum"], s["maximum"], s["default"], app.MaxPageSize, defaultPageSize)
		}
	})
	each("query:page", func(s map[string]any) {
		if num(s["minimum"]) != 1 || num(s["maximum"]) != app.MaxPage {
			t.Errorf("query page: minimum %v maximum %v, want 1, app.MaxPage %d", s["minimum"], s["maximum"], app.MaxPage)
		}
	})
	each("query:minSequence", func(s map[string]any) {
		if s["type"] != "integer" {
			t.Errorf("query minSequence type %v, want integer", s["type"])
		}
	})
	each("header:"+HeaderTrackID, func(s map[string]any) {
		if num(s["maxLength"]) != MaxTrackIDLength {
			t.Errorf("header %s maxLength %v, want MaxTrackIDLength %d", HeaderTrackID, s["maxLength"], MaxTrackIDLength)
		}
	})
	each("header:"+HeaderIdempotencyKey, func(s map[string]any) {
		if num(s["maxLength"]) != maxIdempotencyKeyLen {
			t.Errorf("header %s maxLength %v, want maxIdempotencyKeyLen %d", HeaderIdempotencyKey, s["maxLength"], maxIdempotencyKeyLen)
		}
	})
	each("header:"+HeaderEntityIDs, func(map[string]any) {})

	// The echoed Zuora-Track-Id response header has the same bound.
	h, ok := d.pointer("#/components/headers/TrackId/schema")
	if hm, _ := h.(map[string]any); !ok || num(hm["maxLength"]) != MaxTrackIDLength {
		t.Errorf("components.headers.TrackId maxLength %v, want MaxTrackIDLength %d", hm["maxLength"], MaxTrackIDLength)
	}

	reason, _ := d.schema(t, "ReasonBody")["properties"].(map[string]any)["reason"].(map[string]any)
	if desc, _ := reason["description"].(string); !strings.Contains(desc, strconv.Itoa(app.MaxReasonLength)) {
		t.Errorf("ReasonBody.reason description %q does not state app.MaxReasonLength %d", desc, app.MaxReasonLength)
	}
}

func TestOpenAPISchemasMatchGoTypes(t *testing.T) {
	d := loadOpenAPI(t)
	cases := []struct {
		schema   string
		goType   any
		response bool // every field without omitempty is always sent, so it is required
	}{
		{"Connection", wire.Connection{}, true},
		{"Entity", wire.Entity{}, true},
		{"AccessibleEntity", wire.AccessibleEntity{}, true},
		{"HistoryItem", wire.HistoryItem{}, true},
		{"ErrorBody", ErrorBody{}, true},
		{"Reason", Reason{}, true},
		{"TokenResponse", tokenResponse{}, true},
		{"OAuthErrorBody", OAuthErrorBody{}, true},
		{"ReasonBody", reasonBody{}, false},
	}
	for _, c := range cases {
		s := d.flatten(t, d.schema(t, c.schema))
		props, _ := s["properties"].(map[string]any)
		fields, always := jsonFields(reflect.TypeOf(c.goType))
		if got := keys(props); !slices.Equal(got, fields) {
			t.Errorf("schema %s properties %v, want the JSON fields of %T %v", c.schema, got, c.goType, fields)
		}
		if c.response {
			req := strs(s["required"])
			sort.Strings(req)
			if !slices.Equal(req, always) {
				t.Errorf("schema %s required %v, want the fields %T always sends %v", c.schema, req, c.goType, always)
			}
		}
	}

	oauthCodes := []string{oauthInvalidRequest, oauthInvalidClient, oauthUnsupportedGrantType, oauthInvalidScope, oauthTemporarilyUnavailable, oauthServerError}
	oe, _ := d.flatten(t, d.schema(t, "OAuthErrorBody"))["properties"].(map[string]any)["error"].(map[string]any)
	if got := strs(oe["enum"]); !slices.Equal(got, oauthCodes) {
		t.Errorf("OAuthErrorBody.error enum %v, want %v", got, oauthCodes)
	}

	code, _ := d.schema(t, "Reason")["properties"].(map[string]any)["code"].(map[string]any)
	var wantCodes []string
	for _, c := range contract.Categories {
		wantCodes = append(wantCodes, strconv.Itoa(zuora.CodeBase+int(c)))
	}
	if got := strs(code["enum"]); !slices.Equal(got, wantCodes) {
		t.Errorf("Reason.code enum %v, want CodeBase + contract.Categories %v", got, wantCodes)
	}

	entity, _ := d.schema(t, "Entity")["properties"].(map[string]any)
	parent, _ := entity["parentId"].(map[string]any)
	if got := strs(parent["type"]); !slices.Equal(got, []string{"string", "null"}) {
		t.Errorf("Entity.parentId type %v, want [string, null]", got)
	}
	status, _ := entity["status"].(map[string]any)
	if got := strs(status["enum"]); !slices.Equal(got, []string{contract.EntityStatusProvisioned}) {
		t.Errorf("Entity.status enum %v, want [%s]", got, contract.EntityStatusProvisioned)
	}
	role, _ := d.flatten(t, d.schema(t, "AccessibleEntity"))["properties"].(map[string]any)["role"].(map[string]any)
	if got, want := strs(role["enum"]), []string{string(domain.RoleAdmin), string(domain.RoleUser)}; !slices.Equal(got, want) {
		t.Errorf("AccessibleEntity.role enum %v, want %v", got, want)
	}
	for list, item := range map[string]string{"EntityList": "Entity", "AccessibleEntityList": "AccessibleEntity"} {
		props, _ := d.schema(t, list)["properties"].(map[string]any)
		if got := keys(props); !slices.Equal(got, []string{"entities", "success"}) {
			t.Errorf("%s properties %v, want [entities success]", list, got)
		}
		if items, _ := props["entities"].(map[string]any)["items"].(map[string]any); items["$ref"] != "#/components/schemas/"+item {
			t.Errorf("%s.entities items %v, want $ref %s", list, items, item)
		}
	}
	typ, _ := d.schema(t, "HistoryItem")["properties"].(map[string]any)["type"].(map[string]any)
	var wantTypes []string
	for _, et := range events.Types {
		if et != events.TypeSharingSettingsChanged { // an entity's, in no connection's history
			wantTypes = append(wantTypes, string(et))
		}
	}
	if got := strs(typ["enum"]); !slices.Equal(got, wantTypes) {
		t.Errorf("HistoryItem.type enum %v, want events.Types but SharingSettingsChanged %v", got, wantTypes)
	}

	// ConnectionList and ConnectionDetail wrap the list item.
	list, _ := d.schema(t, "ConnectionList")["properties"].(map[string]any)
	if got := keys(list); !slices.Equal(got, []string{"entityConnections", "nextPage", "success"}) {
		t.Errorf("ConnectionList properties %v, want [entityConnections nextPage success]", got)
	}
	if items, _ := list["entityConnections"].(map[string]any)["items"].(map[string]any); items["$ref"] != "#/components/schemas/Connection" {
		t.Errorf("ConnectionList.entityConnections items %v, want $ref Connection", items)
	}
	detail := d.schema(t, "ConnectionDetail")
	var refs []string
	extra := map[string]any{}
	for _, part := range detail["allOf"].([]any) {
		pm := part.(map[string]any)
		if r, ok := pm["$ref"].(string); ok {
			refs = append(refs, r)
		}
		if p, ok := pm["properties"].(map[string]any); ok {
			for k, v := range p {
				extra[k] = v
			}
		}
	}
	if !slices.Contains(refs, "#/components/schemas/Connection") {
		t.Errorf("ConnectionDetail.allOf %v does not include $ref Connection", refs)
	}
	if got := keys(extra); !slices.Equal(got, []string{"history", "success"}) {
		t.Errorf("ConnectionDetail adds %v to Connection, want [history success]", got)
	}
	if items, _ := extra["history"].(map[string]any)["items"].(map[string]any); items["$ref"] != "#/components/schemas/HistoryItem" {
		t.Errorf("ConnectionDetail.history items %v, want $ref HistoryItem", items)
	}
}

// flatten returns schema with the properties and required fields of its allOf parts (each
// resolved) merged into its own, as a validator sees them.
func (d *openAPIDoc) flatten(t *testing.T, schema map[string]any) map[string]any {
	t.Helper()
	parts, ok := schema["allOf"].([]any)
	if !ok {
		return schema
	}
	props := map[string]any{}
	var required []any
	own := map[string]any{"properties": schema["properties"], "required": schema["required"]}
	for _, part := range append([]any{own}, parts...) {
		pm := d.flatten(t, d.deref(t, part))
		if p, ok := pm["properties"].(map[string]any); ok {
			for k, v := range p {
				props[k] = v
			}
		}
		if r, ok := pm["required"].([]any); ok {
			required = append(required, r...)
		}
	}
	return map[string]any{"type": "object", "properties": props, "required": required}
}

// jsonFields returns the sorted JSON names of t's fields, and those without omitempty.
func jsonFields(t reflect.Type) (all, always []string) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			a, b := jsonFields(f.Type)
			all, always = append(all, a...), append(always, b...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		all = append(all, name)
		if !slices.Contains(strings.Split(opts, ","), "omitempty") {
			always = append(always, name)
		}
	}
	sort.Strings(all)
	sort.Strings(always)
	return all, always
}

func schemaRef(response any, contentType string) string {
	m, _ := response.(map[string]any)
	content, _ := m["content"].(map[string]any)
	ct, _ := content[contentType].(map[string]any)
	s, _ := ct["schema"].(map[string]any)
	ref, _ := s["$ref"].(string)
	return ref
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func strs(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, len(x))
		for i, e := range x {
			out[i] = fmt.Sprint(e)
		}
		return out
	}
	return nil
}

func num(v any) int {
	switch x := v.(type) {
	case int:
		return x
	case int64:
		return int(x)
	case uint64:
		return int(x)
	case float64:
		return int(x)
	}
	return -1
}
