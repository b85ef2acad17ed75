# The project's commands. `make test` is what CI runs (.ci/run calls it).
SHELL := /bin/bash
GO ?= go

.PHONY: run build generate schema-snapshot test test-unit lint services services-down graphiql-check bench bench-hostile bench-limits bench-recall fuzz-short fuzz

run: ## Serve on the embedded stores with a demo tenant (same as `go run .`)
	$(GO) run .

build: ## Build the gateway binary into ./gateway
	$(GO) build -o gateway .

generate: ## Regenerate everything from graph/schema/*.graphqls: gqlgen code, the schema snapshot, the e2e client
	$(GO) generate ./...
	$(MAKE) schema-snapshot

# The served SDL as committed (what `make lint` compares with the last
# release, e2e/schema/check), then the e2e client genqlient generates from
# it: go generate ./... runs e2e before graph, so on its own it would read
# the previous snapshot. Written through a temporary file so that a failing
# build leaves the snapshot as it was.
schema-snapshot: ## Rewrite graph/schema.snapshot.graphql from `go run . schema`, and the e2e client from it
	$(GO) run . schema > graph/schema.snapshot.graphql.tmp
	mv graph/schema.snapshot.graphql.tmp graph/schema.snapshot.graphql
	$(GO) generate ./e2e/...

# The whole suite: bring up the real services (installing what is missing),
# then run every test with REQUIRE_SERVICES=1 so a missing service fails
# instead of skipping, then check that GraphiQL loads offline in Chromium.
# -p 1: test packages share the real servers (and the PostgreSQL outbox, which
# any gateway under test drains), so they run one package at a time.
test: lint
	e2e/services/up
	set -a && source e2e/services/env && set +a && REQUIRE_SERVICES=1 $(GO) test -p 1 -race -count=1 ./...
	e2e/typescript/check
	$(MAKE) fuzz-short
	e2e/graphiql/run
	e2e/subscriptions/run
	e2e/http/run
	e2e/federation/run

test-unit: ## Tests that need no service (real-service tests skip)
	$(GO) test -race -count=1 ./...

# The linters are pinned in tools/go.mod (a module of its own, so their
# dependencies stay out of the gateway's go.mod); `go tool` builds them on
# first use. Configuration: .golangci.yml, staticcheck.conf.
LINT_TOOL = $(GO) tool -modfile=tools/go.mod

lint: ## gofmt, go vet, golangci-lint, staticcheck, go mod tidy check, generated code up to date, schema snapshot and its evolution
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(LINT_TOOL) golangci-lint run ./...
	@# graph/generated is gqlgen's output, regenerated and never edited.
	$(LINT_TOOL) staticcheck $$($(GO) list ./... | grep -v '/graph/generated$$')
	$(GO) mod tidy -diff
	cd tools && $(GO) mod tidy -diff
	$(GO) generate ./... && git diff --exit-code -- graph/ e2e/client/ stores/guarded/wrap_gen.go || { echo "generated code is stale: run make generate and commit"; exit 1; }
	e2e/schema/check

# Fuzz targets (package:target). fuzz-short runs each briefly, as CI does;
# `make fuzz FUZZTIME=10m` runs each for longer.
FUZZ_TARGETS := ./graph/relay:FuzzDecodeID ./graph/relay:FuzzCursor ./auth:FuzzVerify \
	./graph/model:FuzzUnmarshalJSON ./stores/qdrant:FuzzFilterConditions ./graph/compiled:FuzzString
FUZZTIME ?= 10s

fuzz-short: ## Run every fuzz target for 10s
	$(MAKE) fuzz FUZZTIME=10s

fuzz: ## Run every fuzz target for FUZZTIME (default 10s)
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t#*:} ($${t%%:*}) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime=$(FUZZTIME) "$${t%%:*}"; \
	done

services: ## Start the real services (see e2e/services/README.md)
	e2e/services/up

services-down:
	e2e/services/down

# The benchmark (docs/BENCHMARKS.md): never part of `make test`. Starts the
# services, installs the PostGraphile peer (pinned by bench/peer/package-lock.json),
# builds the gateway and the benchmark, seeds codingbrain_bench once, runs every
# scenario and rewrites the table in docs/BENCHMARKS.md and the chart.
# BENCH_FLAGS passes flags, e.g. BENCH_FLAGS='-duration 3s -concurrency 1,16'.
bench:
	e2e/services/up
	cd bench/peer && npm ci --no-audit --no-fund --loglevel=error
	$(GO) build -o bin/gateway .
	$(GO) build -o bin/bench ./bench
	set -a && source e2e/services/env && set +a && bin/bench $(BENCH_FLAGS)

# Server CPU spent refusing hostile documents (docs/BENCHMARKS.md): never
# part of `make test`. Needs no service: the gateway runs on its embedded
# stores. HOSTILE_FLAGS passes flags, e.g. HOSTILE_FLAGS='-n 5 -cases alias'.
bench-limits: ## The shared rate limit's cost per request against the in-process one (needs Valkey)
	e2e/services/up
	set -a && source e2e/services/env && set +a && $(GO) run ./bench/sharedlimits

bench-hostile:
	$(GO) build -o bin/gateway .
	$(GO) build -o bin/hostile ./bench/hostile
	bin/hostile -gateway bin/gateway $(HOSTILE_FLAGS)

# Retrieval quality on the real stack (docs/BENCHMARKS.md): never part of
# `make test`. Loads bench/recall/testdata/stdlib.json into a fresh tenant
# and prints recall@10 and MRR@10 of search, vectorSearch, recall and a BM25
# baseline. RECALL_FLAGS passes flags, e.g. RECALL_FLAGS='-org UUID' to reuse
# a tenant loaded by an earlier run.
bench-recall:
	e2e/services/up
	$(GO) build -o bin/gateway .
	$(GO) build -o bin/recall ./bench/recall
	set -a && source e2e/services/env && set +a && bin/recall -gateway bin/gateway $(RECALL_FLAGS)
