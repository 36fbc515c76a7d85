# Shipping it: container images, docker compose, the Helm chart,
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

.PHONY: chart-verify compose-up compose-down kind-up kind-down tilt image test-image test-compose docker-down

chart-verify: ## helm lint/template + strict decode of every rendered object, compose, kind, Tiltfile, Dockerfile, scripts (offline)
	@# The pinned tools are built here, before the tests start: a cold build
	@# (promtool: minutes) must not eat into go test's timeout.
	@helm=$$(hack/tools.sh helm) && promtool=$$(hack/tools.sh promtool) && \
	cd hack/verify && HELM="$$helm" PROMTOOL="$$promtool" go test -count=1 -timeout 20m ./...

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

image: ## build both production images with a local Docker engine (IMAGE_TAG=..., IMAGE_PREFIX=...); makes base-image stand-ins when they cannot be pulled
	@docker=$$(hack/docker.sh up) && export DOCKER="$$docker" DOCKER_BUILDKIT=1 && \
	  hack/images.sh bases && \
	  for t in ingress worker; do \
	    echo "building $(IMAGE_PREFIX)/$$t:$(IMAGE_TAG)"; \
	    "$$docker" build -q -f services/Dockerfile --target $$t --build-arg VERSION=$(IMAGE_TAG) -t $(IMAGE_PREFIX)/$$t:$(IMAGE_TAG) . >/dev/null || exit 1; \
	  done && \
	  "$$docker" image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep -E '^$(IMAGE_PREFIX)/(ingress|worker):$(IMAGE_TAG) '

test-image: image ## the built images: non-root uid, read-only root, /live and /ready, entrypoint, version (hack/verify/images)
	@eval "$$(hack/testenv.sh up)" && export DOCKER="$$(hack/docker.sh cli)" \
	  IMAGE_INGRESS=$(IMAGE_PREFIX)/ingress:$(IMAGE_TAG) IMAGE_WORKER=$(IMAGE_PREFIX)/worker:$(IMAGE_TAG) IMAGE_VERSION=$(IMAGE_TAG) && \
	  cd hack/verify && go test -tags docker -count=1 -v -run . ./images/

test-compose: image ## docker compose up --wait with the committed file (+ a loopback/stand-in override), seed load with a worker restart, audit, down -v
	VERSION=$(IMAGE_TAG) hack/compose-test.sh

docker-down: ## stop the dockerd that hack/docker.sh started (by PID), if it did
	hack/docker.sh down
