// Command k8s-schemas writes one standalone, strict JSON schema per Kubernetes kind (the layout
// kubeconform reads with -schema-location '<dir>/{{ .ResourceKind }}{{ .KindSuffix }}.json'),
// from the OpenAPI definitions that openapi-gen generated out of the pinned k8s.io/api module
// (package ./openapi, made by scripts/install-tool-checks.sh before this is built).
//
// Standalone: every $ref is inlined. Strict: an object with declared properties accepts no
// other (a misspelt field fails), as kubeconform's -strict expects of its schemas.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"dcent/k8s-schemas/openapi"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

const refPrefix = "#/definitions/"

// Types whose Go form is not their JSON form (both a number and a string are accepted).
var scalars = map[string]any{
	"io.k8s.apimachinery.pkg.util.intstr.IntOrString": map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}},
	"io.k8s.apimachinery.pkg.api.resource.Quantity":   map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}},
	"io.k8s.apimachinery.pkg.runtime.RawExtension":    map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true},
	"io.k8s.apimachinery.pkg.apis.meta.v1.Time":       map[string]any{"type": "string", "format": "date-time"},
	"io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime":  map[string]any{"type": "string", "format": "date-time"},
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: k8s-schemas OUTPUT_DIR")
		os.Exit(2)
	}
	out := os.Args[1]
	definitions := map[string]map[string]any{}
	for name, definition := range openapi.GetOpenAPIDefinitions(func(path string) spec.Ref {
		return spec.MustCreateRef(refPrefix + path)
	}) {
		raw, err := json.Marshal(definition.Schema)
		if err != nil {
			panic(err)
		}
		var schema map[string]any
		if err := json.Unmarshal(raw, &schema); err != nil {
			panic(err)
		}
		definitions[name] = schema
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		panic(err)
	}
	names := make([]string, 0, len(definitions))
	for name := range definitions {
		names = append(names, name)
	}
	sort.Strings(names)
	written := 0
	for _, name := range names {
		file, ok := fileName(name, definitions[name])
		if !ok {
			continue
		}
		schema := inline(definitions[name], definitions, map[string]bool{name: true})
		schema.(map[string]any)["$schema"] = "http://json-schema.org/schema#"
		raw, err := json.Marshal(schema)
		if err != nil {
			panic(err)
		}
		if err := os.WriteFile(filepath.Join(out, file), raw, 0o644); err != nil {
			panic(err)
		}
		written++
	}
	fmt.Printf("%d kinds written to %s\n", written, out)
}

// fileName is kubeconform's name for a kind: deployment-apps-v1.json, service-v1.json,
// networkpolicy-networking-v1.json (the first part of the group, then the version).
func fileName(name string, schema map[string]any) (string, bool) {
	const api = "io.k8s.api."
	properties, _ := schema["properties"].(map[string]any)
	if !strings.HasPrefix(name, api) || properties["kind"] == nil || properties["apiVersion"] == nil || properties["metadata"] == nil {
		return "", false
	}
	parts := strings.Split(name[len(api):], ".") // group, version, kind
	if len(parts) != 3 {
		return "", false
	}
	kind := strings.ToLower(parts[2])
	if parts[0] == "core" {
		return fmt.Sprintf("%s-%s.json", kind, parts[1]), true
	}
	return fmt.Sprintf("%s-%s-%s.json", kind, parts[0], parts[1]), true
}

func inline(node any, definitions map[string]map[string]any, seen map[string]bool) any {
	switch value := node.(type) {
	case map[string]any:
		if ref, ok := value["$ref"].(string); ok && strings.HasPrefix(ref, refPrefix) {
			name := ref[len(refPrefix):]
			if scalar, ok := scalars[name]; ok {
				return scalar
			}
			if seen[name] {
				return map[string]any{} // a recursive type: accept anything below this point
			}
			target, ok := definitions[name]
			if !ok {
				panic("no definition for " + name)
			}
			seen[name] = true
			defer delete(seen, name)
			return inline(target, definitions, seen)
		}
		result := map[string]any{}
		for key, child := range value {
			if key == "description" || strings.HasPrefix(key, "x-kubernetes-list") || key == "x-kubernetes-patch-strategy" || key == "x-kubernetes-patch-merge-key" {
				continue
			}
			if key == "properties" {
				properties := map[string]any{}
				for property, schema := range child.(map[string]any) {
					properties[property] = inline(schema, definitions, seen)
				}
				result[key] = properties
				continue
			}
			result[key] = inline(child, definitions, seen)
		}
		if _, has := result["properties"]; has {
			if _, set := result["additionalProperties"]; !set {
				result["additionalProperties"] = false
			}
		}
		return result
	case []any:
		result := make([]any, len(value))
		for index, child := range value {
			result[index] = inline(child, definitions, seen)
		}
		return result
	default:
		return node
	}
}
