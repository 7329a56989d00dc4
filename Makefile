# codecheck: make build | test | soak | fuzz | run | lint | bench | modal-binary
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
ADDRESS ?= 1600 Pennsylvania Ave NW, Washington, DC 20500

.PHONY: build test test-short soak fuzz run serve lint bench modal-binary openapi generate check-generated lint-api clean

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/codecheck ./cmd/codecheck

# Every test, with the race detector. Postgres suites use
# CODECHECK_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test)
# and skip loudly when it is unreachable, unless CI=true.
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

test-short:
	$(GO) test -count=1 ./...

# The fault tests of test/e2e (SIGKILL loop, provider faults, a Postgres
# restart, SIGTERM, a zombie worker) at full size; make test runs them at a
# size that fits CI.
soak:
	CODECHECK_SOAK=1 $(GO) test -count=1 -timeout 60m -run 'Fault' -v ./test/e2e

# Each fuzz target for FUZZTIME (go test -fuzz takes one target per run).
# The committed corpora under testdata/fuzz/ also run in every plain go test.
# Go 1.26 can end a run that found nothing with a bare "context deadline
# exceeded" (go.dev/issue/75804, fixed in Go 1.27): that is reported as a
# flake, not a failure. A real failure names the input it wrote.
FUZZTIME ?= 8s
FUZZ_TARGETS := \
	./domain:FuzzNormalizeAddress \
	./domain:FuzzNormalizeProject \
	./app:FuzzAnswer \
	./app:FuzzWorkerTokenCheck \
	./adapters/llm/perplexity:FuzzResponse \
	./adapters/llm/openai:FuzzResponse \
	./adapters/llm/gemini:FuzzResponse \
	./adapters/http:FuzzSubmitJob \
	./adapters/http:FuzzLastEventID

fuzz:
	@log=$$(mktemp); trap 'rm -f $$log' EXIT; \
	for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t#*:}; \
		echo "fuzz: $$name in $$pkg for $(FUZZTIME)"; \
		if $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) "$$pkg" >$$log 2>&1; then \
			tail -n 2 $$log; \
		elif grep -q 'context deadline exceeded' $$log && \
			! grep -qE 'Failing input written|failure while testing seed corpus|panic:' $$log; then \
			tail -n 6 $$log; echo "fuzz: $$name: flake of go.dev/issue/75804 at the deadline, no failing input"; \
		else \
			cat $$log; exit 1; \
		fi; \
	done

# One check on the embedded default (SQLite, local executor, fake provider).
run:
	$(GO) run ./cmd/codecheck check --provider fake "$(ADDRESS)"

serve:
	CODECHECK_FAKE_LLM=1 $(GO) run ./cmd/codecheck serve

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1)
	$(GO) vet ./...

bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./adapters/store/... ./app/...
	$(GO) test -run '^$$' -bench . -benchtime 1x ./bench/handoff
	bash bench/check.sh

# The statically linked Linux binary the Modal image carries.
modal-binary:
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/codecheck-linux-amd64 ./cmd/codecheck

# The committed spec, and the same downgraded to OpenAPI 3.0 for the client
# generator (which reads 3.0 only).
openapi:
	$(GO) run ./cmd/codecheck openapi --yaml > api/openapi.yaml
	$(GO) run ./cmd/codecheck openapi --spec-version 3.0 > api/openapi-3.0.yaml

# The Go client generated from api/openapi-3.0.yaml (adapters/apiclient/gen),
# by oapi-codegen at the version of go.mod's tool directive.
generate:
	$(GO) generate ./...

# Fails when the committed spec or generated client differ from what the
# code generates now (run make openapi generate, and commit the result).
check-generated: openapi generate
	git diff --exit-code -- api/openapi.yaml api/openapi-3.0.yaml adapters/apiclient/gen

# Redocly's recommended rules over the spec (redocly.yaml; its exceptions are
# justified there and in .redocly.lint-ignore.yaml). Pinned, through npx:
# nothing is installed globally.
REDOCLY ?= npx --yes @redocly/cli@2.77.0
lint-api:
	$(REDOCLY) lint api/openapi.yaml

clean:
	rm -rf bin dist codecheck.db codecheck.db-wal codecheck.db-shm
