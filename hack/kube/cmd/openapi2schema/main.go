// Command openapi2schema writes kubeconform's per-kind JSON schemas offline:
// from k8s.io/kubernetes' api/openapi-spec/swagger.json (the module zip ships
// it, and the module proxy is reachable where the usual schema download is
// not) and from CustomResourceDefinition files.
//
//	openapi2schema -swagger swagger.json -out DIR [crd.yaml ...]
//
// File names follow kubeconform's `{{.ResourceKind}}{{.KindSuffix}}.json`
// (deployment-apps-v1.json, service-v1.json, scaledobject-keda-v1alpha1.json).
// Schemas are "strict": every object that lists its properties gets
// additionalProperties:false, so a misspelled field fails (the API server only
// warns and drops it). int-or-string and Quantity accept strings and numbers,
// and fields may be null, as the server accepts.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

func main() {
	swagger := flag.String("swagger", "", "path to Kubernetes swagger.json")
	out := flag.String("out", "", "output directory")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "usage: openapi2schema -swagger swagger.json -out DIR [crd.yaml ...]")
		os.Exit(2)
	}
	if err := run(*swagger, *out, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "openapi2schema:", err)
		os.Exit(1)
	}
}

func run(swaggerPath, out string, crdFiles []string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	n := 0
	if swaggerPath != "" {
		c, err := fromSwagger(swaggerPath, out)
		if err != nil {
			return err
		}
		n += c
	}
	for _, f := range crdFiles {
		c, err := fromCRDFile(f, out)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		n += c
	}
	fmt.Fprintf(os.Stderr, "openapi2schema: wrote %d schemas into %s\n", n, out)
	return nil
}

type obj = map[string]any

func fromSwagger(path, out string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var doc struct {
		Definitions map[string]obj `json:"definitions"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return 0, err
	}
	n := 0
	for name, def := range doc.Definitions {
		gvks, _ := def["x-kubernetes-group-version-kind"].([]any)
		if len(gvks) != 1 { // several GVKs: shared types like DeleteOptions
			continue
		}
		g := gvks[0].(obj)
		group, _ := g["group"].(string)
		version, _ := g["version"].(string)
		kind, _ := g["kind"].(string)
		apiVersion := version
		if group != "" {
			apiVersion = group + "/" + version
		}
		s := inline(def, doc.Definitions, map[string]bool{name: true})
		s["$schema"] = "http://json-schema.org/schema#"
		if err := write(out, kind, apiVersion, s); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

var refPrefix = "#/definitions/"

// inline returns s with every $ref replaced by a strict copy of its target.
// seen breaks recursion (JSONSchemaProps refers to itself): a recursive ref
// becomes an unconstrained schema.
func inline(s obj, defs map[string]obj, seen map[string]bool) obj {
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, refPrefix)
		switch name {
		case "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
			"io.k8s.apimachinery.pkg.api.resource.Quantity":
			return obj{"oneOf": []any{obj{"type": []any{"string", "null"}}, obj{"type": "number"}}}
		}
		if seen[name] {
			return obj{}
		}
		target, ok := defs[name]
		if !ok {
			return obj{}
		}
		seen[name] = true
		r := inline(target, defs, seen)
		delete(seen, name)
		if d, ok := s["description"]; ok {
			r["description"] = d
		}
		return r
	}
	r := obj{}
	for k, v := range s {
		switch k {
		case "x-kubernetes-group-version-kind", "format":
			continue
		case "properties":
			props := obj{}
			for pk, pv := range v.(obj) {
				props[pk] = inline(pv.(obj), defs, seen)
			}
			r[k] = props
		case "items", "additionalProperties":
			if m, ok := v.(obj); ok {
				r[k] = inline(m, defs, seen)
			} else {
				r[k] = v
			}
		default:
			r[k] = v
		}
	}
	if f, _ := s["format"].(string); f == "int-or-string" {
		return obj{"oneOf": []any{obj{"type": []any{"string", "null"}}, obj{"type": "integer"}}}
	}
	strictify(r)
	return r
}

// strictify forbids unknown fields and lets fields be null, as the server does.
func strictify(r obj) {
	if _, ok := r["properties"]; ok {
		if _, set := r["additionalProperties"]; !set && r["x-kubernetes-preserve-unknown-fields"] != true {
			r["additionalProperties"] = false
		}
	}
	if t, ok := r["type"].(string); ok {
		r["type"] = []any{t, "null"}
	}
}

func fromCRDFile(path, out string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, doc := range splitYAML(b) {
		var crd struct {
			Kind string `json:"kind"`
			Spec struct {
				Group string `json:"group"`
				Names struct {
					Kind string `json:"kind"`
				} `json:"names"`
				Versions []struct {
					Name   string `json:"name"`
					Schema struct {
						OpenAPIV3Schema obj `json:"openAPIV3Schema"`
					} `json:"schema"`
				} `json:"versions"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(doc, &crd); err != nil {
			return n, err
		}
		if crd.Kind != "CustomResourceDefinition" {
			continue
		}
		for _, v := range crd.Spec.Versions {
			if v.Schema.OpenAPIV3Schema == nil {
				continue
			}
			s := crdStrict(v.Schema.OpenAPIV3Schema)
			s["$schema"] = "http://json-schema.org/schema#"
			if err := write(out, crd.Spec.Names.Kind, crd.Spec.Group+"/"+v.Name, s); err != nil {
				return n, err
			}
			n++
		}
	}
	if n == 0 {
		return 0, errors.New("no CustomResourceDefinition with a schema")
	}
	return n, nil
}

func crdStrict(s obj) obj {
	r := obj{}
	for k, v := range s {
		switch k {
		case "format":
			continue
		case "properties":
			props := obj{}
			for pk, pv := range v.(obj) {
				props[pk] = crdStrict(pv.(obj))
			}
			r[k] = props
		case "items", "additionalProperties":
			if m, ok := v.(obj); ok {
				r[k] = crdStrict(m)
			} else {
				r[k] = v
			}
		case "allOf", "anyOf", "oneOf":
			var l []any
			for _, e := range v.([]any) {
				l = append(l, crdStrict(e.(obj)))
			}
			r[k] = l
		default:
			r[k] = v
		}
	}
	if r["x-kubernetes-int-or-string"] == true {
		delete(r, "type")
		return obj{"oneOf": []any{obj{"type": []any{"string", "null"}}, obj{"type": "integer"}}}
	}
	strictify(r)
	return r
}

func write(out, kind, apiVersion string, s obj) error {
	parts := strings.Split(apiVersion, "/")
	suffix := "-" + strings.ToLower(strings.Split(parts[0], ".")[0])
	if len(parts) > 1 {
		suffix += "-" + strings.ToLower(parts[1])
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, strings.ToLower(kind)+suffix+".json"), b, 0o644)
}

func splitYAML(b []byte) [][]byte {
	var docs [][]byte
	for _, d := range bytes.Split(b, []byte("\n---")) {
		if len(bytes.TrimSpace(d)) > 0 {
			docs = append(docs, d)
		}
	}
	return docs
}
