# The two commands a new user needs: `make run` and `make test`. Each installs what is missing first.
SWIFT ?= swift
HANDOFF := .build/debug/handoff

.PHONY: run test build dependencies test-tools fuzz screenshots clean

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

## Builds and runs every test; tests start their own throwaway PostgreSQL (or use DATABASE_URL). Then the
## dashboard in headless Chromium (its screenshots go to .build/screenshots), then the fuzzer.
test: dependencies test-tools
	$(SWIFT) build --build-tests
	$(SWIFT) test
	.venv/bin/python Tests/Browser/dashboard_test.py --screenshots .build/screenshots
	@SWIFT=$(SWIFT) ./scripts/fuzz.sh

## The dashboard's browser test, writing the README's screenshots into docs/.
screenshots: build test-tools
	.venv/bin/python Tests/Browser/dashboard_test.py --screenshots docs

## libFuzzer on the loader, the expression parser, caller JSON and patterns: 30 s each (HANDOFF_FUZZ_SECONDS).
fuzz: dependencies
	@SWIFT=$(SWIFT) ./scripts/fuzz.sh

clean:
	-$(HANDOFF) dev stop
	rm -rf .build
