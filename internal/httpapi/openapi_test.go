package httpapi_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/watchword/watchword/internal/httpapi"
)

// httpMethods are the operation keys of an OpenAPI path item.
var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// openAPISpec is the part of the document the tests look at; raw keeps the
// whole tree for $ref resolution.
type openAPISpec struct {
	OpenAPI  string                    `yaml:"openapi"`
	Servers  []struct{ URL string }    `yaml:"servers"`
	Security []map[string][]string     `yaml:"security"`
	Paths    map[string]map[string]any `yaml:"paths"`
	raw      any
}

// loadOpenAPI fetches the document the way a client does, from GET
// /admin/v1/openapi.yaml, checks that it is the file in the repository, and
// parses it.
func loadOpenAPI(t *testing.T) openAPISpec {
	t.Helper()
	srv := httpapi.New(nil, slog.New(slog.DiscardHandler))
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, httpapi.Prefix+"/openapi.yaml", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s/openapi.yaml: status %d, body %s", httpapi.Prefix, rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/yaml" {
		t.Errorf("GET %s/openapi.yaml: Content-Type %q, want application/yaml", httpapi.Prefix, ct)
	}
	served, _ := io.ReadAll(rec.Body)
	file, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(served, file) {
		t.Fatalf("served openapi.yaml (%d bytes) differs from internal/httpapi/openapi.yaml (%d bytes)", len(served), len(file))
	}

	var spec openAPISpec
	if err := yaml.Unmarshal(file, &spec); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if err := yaml.Unmarshal(file, &spec.raw); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	return spec
}

// operations returns the spec's operations keyed "METHOD /path".
func (s openAPISpec) operations() map[string]map[string]any {
	ops := map[string]map[string]any{}
	for path, item := range s.Paths {
		for key, v := range item {
			if !slices.Contains(httpMethods, key) {
				continue
			}
			op, _ := v.(map[string]any)
			ops[strings.ToUpper(key)+" "+path] = op
		}
	}
	return ops
}

func TestOpenAPIVersion(t *testing.T) {
	spec := loadOpenAPI(t)
	if !regexp.MustCompile(`^3\.1\.\d+$`).MatchString(spec.OpenAPI) {
		t.Errorf("openapi = %q, want 3.1.x", spec.OpenAPI)
	}
	if len(spec.Servers) != 1 || spec.Servers[0].URL != httpapi.Prefix {
		t.Errorf("servers = %+v, want exactly [{url: %s}] (paths are relative to the prefix)", spec.Servers, httpapi.Prefix)
	}
}

// TestOpenAPIMatchesRoutes checks that the spec describes exactly the
// routes the server serves, in both directions.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	spec := loadOpenAPI(t)
	ops := spec.operations()

	routes := map[string]bool{}
	for _, rt := range httpapi.Routes() {
		key := rt.Method + " " + rt.Path
		if routes[key] {
			t.Errorf("Routes() lists %s twice", key)
		}
		routes[key] = true
		if _, ok := ops[key]; !ok {
			t.Errorf("route %s %s%s is served but missing from openapi.yaml (add it under paths: %q, operation %q)",
				rt.Method, httpapi.Prefix, rt.Path, rt.Path, strings.ToLower(rt.Method))
		}
	}
	for _, key := range sortedKeys(ops) {
		if !routes[key] {
			method, path, _ := strings.Cut(key, " ")
			t.Errorf("openapi.yaml describes %s %s%s, but no route in httpapi.Routes() serves it", method, httpapi.Prefix, path)
		}
	}
	for path := range spec.Paths {
		if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, httpapi.Prefix+"/") {
			t.Errorf("openapi.yaml path %q: paths must start with / and be relative to the server url %s", path, httpapi.Prefix)
		}
	}
}

// TestOpenAPIRoles checks each operation's x-watchword-roles and security
// against the route table.
func TestOpenAPIRoles(t *testing.T) {
	spec := loadOpenAPI(t)
	ops := spec.operations()
	globalSecured := len(spec.Security) > 0
	for _, rt := range httpapi.Routes() {
		key := rt.Method + " " + rt.Path
		op, ok := ops[key]
		if !ok {
			continue // reported by TestOpenAPIMatchesRoutes
		}
		var gotRoles []string
		rawRoles, hasRoles := op["x-watchword-roles"]
		if hasRoles {
			list, ok := rawRoles.([]any)
			if !ok {
				t.Errorf("%s: x-watchword-roles must be a list, got %T", key, rawRoles)
				continue
			}
			for _, r := range list {
				gotRoles = append(gotRoles, toString(r))
			}
		}
		sec, hasSec := op["security"]
		secList, _ := sec.([]any)
		secured := globalSecured
		if hasSec {
			secured = len(secList) > 0
		}

		if rt.Roles == nil {
			if hasRoles {
				t.Errorf("%s needs no authentication, but the spec gives x-watchword-roles %v", key, gotRoles)
			}
			if !hasSec || len(secList) != 0 {
				t.Errorf("%s needs no authentication: the operation must say `security: []`", key)
			}
			continue
		}
		var want []string
		for _, r := range rt.Roles {
			want = append(want, string(r))
		}
		if !hasRoles {
			t.Errorf("%s: x-watchword-roles missing, want %v", key, want)
		} else if !sameSet(gotRoles, want) {
			t.Errorf("%s: x-watchword-roles = %v, want %v", key, gotRoles, want)
		}
		if !secured {
			t.Errorf("%s requires an admin token, but the spec marks it as needing no security", key)
		}
	}
}

// TestOpenAPIRefsResolve checks that every $ref is a local reference to a
// node that exists.
func TestOpenAPIRefsResolve(t *testing.T) {
	spec := loadOpenAPI(t)
	n := 0
	walk(spec.raw, "#", func(at string, m map[string]any) {
		v, ok := m["$ref"]
		if !ok {
			return
		}
		n++
		ref := toString(v)
		if !strings.HasPrefix(ref, "#/components/") {
			t.Errorf("%s: $ref %q is not a local reference to #/components/…", at, ref)
			return
		}
		if _, err := resolvePointer(spec.raw, strings.TrimPrefix(ref, "#")); err != "" {
			t.Errorf("%s: $ref %q does not resolve: %s", at, ref, err)
		}
	})
	if n == 0 {
		t.Error("openapi.yaml has no $ref at all; expected schemas in components")
	}
	for _, name := range []string{
		"Domain", "Client", "Secret", "NewSecret", "SecretPolicy", "Expiry", "ClientPolicy",
		"Rotation", "RotatedSecret", "RotateResult", "AuditEvent", "AdminToken", "NewAdminToken", "Problem",
	} {
		if _, err := resolvePointer(spec.raw, "/components/schemas/"+name); err != "" {
			t.Errorf("components.schemas.%s is missing", name)
		}
	}
}

// TestOpenAPIPathParameters checks that each {name} of a path is declared
// as a required path parameter of each of its operations, and nothing else is.
func TestOpenAPIPathParameters(t *testing.T) {
	spec := loadOpenAPI(t)
	tmpl := regexp.MustCompile(`\{([^}]+)\}`)
	for path, item := range spec.Paths {
		var want []string
		for _, m := range tmpl.FindAllStringSubmatch(path, -1) {
			want = append(want, m[1])
		}
		for _, method := range httpMethods {
			op, ok := item[method].(map[string]any)
			if !ok {
				continue
			}
			var got []string
			for _, list := range []any{item["parameters"], op["parameters"]} {
				params, _ := list.([]any)
				for i, p := range params {
					pm, _ := p.(map[string]any)
					if ref, ok := pm["$ref"]; ok {
						r, err := resolvePointer(spec.raw, strings.TrimPrefix(toString(ref), "#"))
						if err != "" {
							continue // reported by TestOpenAPIRefsResolve
						}
						pm, _ = r.(map[string]any)
					}
					if toString(pm["in"]) != "path" {
						continue
					}
					if pm["required"] != true {
						t.Errorf("%s %s: path parameter %d (%s) must be required", strings.ToUpper(method), path, i, toString(pm["name"]))
					}
					got = append(got, toString(pm["name"]))
				}
			}
			if !sameSet(got, want) {
				t.Errorf("%s %s: path parameters %v, want %v", strings.ToUpper(method), path, got, want)
			}
		}
	}
}

// walk calls fn on every mapping of the tree, with its JSON pointer.
func walk(node any, at string, fn func(at string, m map[string]any)) {
	switch v := node.(type) {
	case map[string]any:
		fn(at, v)
		for _, k := range sortedKeys(v) {
			walk(v[k], at+"/"+escapePointer(k), fn)
		}
	case map[any]any: // a mapping with a non-string key, such as an unquoted 200
		m := map[string]any{}
		for k, e := range v {
			m[fmt.Sprint(k)] = e
		}
		walk(m, at, fn)
	case []any:
		for i, e := range v {
			walk(e, at+"/"+strconv.Itoa(i), fn)
		}
	}
}

// resolvePointer follows a JSON pointer (RFC 6901) through the tree.
func resolvePointer(root any, pointer string) (any, string) {
	if pointer == "" {
		return root, ""
	}
	if !strings.HasPrefix(pointer, "/") {
		return nil, "pointer must start with /"
	}
	node := root
	for _, tok := range strings.Split(pointer[1:], "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch v := node.(type) {
		case map[string]any:
			next, ok := v[tok]
			if !ok {
				return nil, "no key " + strconv.Quote(tok)
			}
			node = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(v) {
				return nil, "no index " + strconv.Quote(tok)
			}
			node = v[i]
		default:
			return nil, "cannot descend into a scalar at " + strconv.Quote(tok)
		}
	}
	return node, ""
}

func escapePointer(s string) string { return strings.NewReplacer("~", "~0", "/", "~1").Replace(s) }

func toString(v any) string {
	s, _ := v.(string)
	return s
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	sort.Strings(a)
	sort.Strings(b)
	return slices.Equal(a, b)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
