# The two commands a new user needs: `make run` and `make test`. Each installs what is missing first.
SWIFT ?= swift
HANDOFF := .build/debug/handoff

.PHONY: run test build dependencies test-tools fuzz clean

dependencies:
	@./scripts/install-dependencies.sh

## wrk and a virtualenv (.venv/) with schemathesis, for the HTTP tests and benchmarks.
test-tools:
	@./scripts/install-test-tools.sh

build: dependencies
	$(SWIFT) build --product handoff

## Starts `handoff serve` on its embedded default (a private PostgreSQL cluster under .handoff/, migrated) with a
## demo Mail.Send onboarding, and prints the URL, a token per demo role and curl lines to try. Ctrl-C stops it.
run: build
	$(HANDOFF) serve --demo

## Builds and runs every test; tests start their own throwaway PostgreSQL (or use DATABASE_URL). Then fuzzes.
test: dependencies test-tools
	$(SWIFT) build --build-tests
	$(SWIFT) test
	@SWIFT=$(SWIFT) ./scripts/fuzz.sh

## libFuzzer on the loader, the expression parser, caller JSON and patterns: 30 s each (HANDOFF_FUZZ_SECONDS).
fuzz: dependencies
	@SWIFT=$(SWIFT) ./scripts/fuzz.sh

clean:
	-$(HANDOFF) dev stop
	rm -rf .build
