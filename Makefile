# The project's commands. `make test` is what CI runs (.ci/run calls it).
SHELL := /bin/bash
GO ?= go

.PHONY: run build generate test test-unit lint services services-down graphiql-check

run: ## Serve on the embedded stores with a demo tenant (same as `go run .`)
	$(GO) run .

build: ## Build the gateway binary into ./gateway
	$(GO) build -o gateway .

generate: ## Regenerate gqlgen code from graph/schema/*.graphqls
	$(GO) generate ./...

# The whole suite: bring up the real services (installing what is missing),
# then run every test with REQUIRE_SERVICES=1 so a missing service fails
# instead of skipping, then check that GraphiQL loads offline in Chromium.
# -p 1: test packages share the real servers (and the PostgreSQL outbox, which
# any gateway under test drains), so they run one package at a time.
test: lint
	e2e/services/up
	set -a && source e2e/services/env && set +a && REQUIRE_SERVICES=1 $(GO) test -p 1 -race -count=1 ./...
	e2e/graphiql/run
	e2e/subscriptions/run
	e2e/federation/run

test-unit: ## Tests that need no service (real-service tests skip)
	$(GO) test -race -count=1 ./...

lint: ## gofmt, go vet, go mod tidy check, generated code up to date
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(GO) mod tidy -diff
	$(GO) generate ./... && git diff --exit-code -- graph/ || { echo "generated code is stale: run make generate and commit"; exit 1; }

services: ## Start the real services (see e2e/services/README.md)
	e2e/services/up

services-down:
	e2e/services/down
