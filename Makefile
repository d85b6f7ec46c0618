# The two commands a new user needs: `make run` and `make test`. Each installs what is missing first.
SWIFT ?= swift
HANDOFF := .build/debug/handoff

.PHONY: run test build dependencies clean

dependencies:
	@./scripts/install-dependencies.sh

build: dependencies
	$(SWIFT) build --product handoff

## Starts Handoff on its embedded default (a private PostgreSQL cluster under .handoff/, migrated), starts a
## demo Mail.Send onboarding and prints its open tasks with the next commands to try.
run: build
	$(HANDOFF) demo

## Builds and runs every test; tests start their own throwaway PostgreSQL (or use DATABASE_URL).
test: dependencies
	$(SWIFT) build --build-tests
	$(SWIFT) test

clean:
	-$(HANDOFF) dev stop
	rm -rf .build
