# Shipping it (issue 6): container images, docker compose, the Helm chart,
# kind + Tilt. Everything that can be proven without a Docker engine, kind or
# Tilt is proven by `make chart-verify` (part of `make test`): helm lint and
# template for every values file, strict decoding of every rendered object,
# PodSecurity restricted, compose-go, kind's config type, the Tiltfile
# executed as Starlark, BuildKit's Dockerfile parser, bash -n/shellcheck.
# The offline-proof tests live in their own module (hack/verify) so their
# Kubernetes-sized dependencies stay out of the services' go.mod.

IMAGE_TAG ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
IMAGE_PREFIX ?= webhook-ingestor
DOCKER ?= docker

TEST_EXTRA += chart-verify

.PHONY: chart-verify compose-up compose-down kind-up kind-down tilt image

chart-verify: ## helm lint/template + strict decode of every rendered object, compose, kind, Tiltfile, Dockerfile, scripts (offline)
	@helm=$$(hack/tools.sh helm) && \
	cd hack/verify && HELM="$$helm" go test -count=1 ./...

compose-up: ## docker compose up --build: Redis, PostgreSQL, migrations, worker, ingress (http://localhost:8080)
	@mkdir -p .docker/postgres-data .docker/redis-data
	$(DOCKER) compose up --build

compose-down: ## docker compose down (data stays in ./.docker)
	$(DOCKER) compose down

kind-up: ## kind cluster "webhook-ingestor" + local registry (localhost:5001) + Gateway API CRDs + Traefik (the Gateway) + metrics-server
	hack/kind.sh up

kind-down: ## delete the kind cluster and its registry
	hack/kind.sh down

tilt: ## Tilt dev loop on the kind cluster (needs `make kind-up` and tilt)
	tilt up

image: ## build both production images (IMAGE_TAG=..., IMAGE_PREFIX=...)
	$(DOCKER) build -f services/Dockerfile --target ingress --build-arg VERSION=$(IMAGE_TAG) -t $(IMAGE_PREFIX)/ingress:$(IMAGE_TAG) .
	$(DOCKER) build -f services/Dockerfile --target worker --build-arg VERSION=$(IMAGE_TAG) -t $(IMAGE_PREFIX)/worker:$(IMAGE_TAG) .
