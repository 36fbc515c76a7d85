// Package verify holds the offline proof for the deploy artefacts: the Helm
// chart, docker-compose.yml, kind-config.yaml, the Tiltfile, k8s/ and
// services/Dockerfile. No Docker engine, kind or Tilt runs where these tests
// run, so each artefact is checked with the library its real consumer uses:
// helm itself for lint and render, every rendered object strictly decoded into
// its Kubernetes Go type (k8s.io/api, KEDA, prometheus-operator), the Pod
// Security Admission library for the restricted profile, compose-go for the
// compose file, kind's own config types, go.starlark.net for the Tiltfile and
// BuildKit's parser for the Dockerfile.
//
// It is its own module so these heavy dependencies stay out of the services'
// go.mod. Run it with `make chart-verify` (which installs the pinned helm and
// passes its path in $HELM).
package verify
