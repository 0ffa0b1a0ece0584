# tenrec.dataplane task runner. Every target sets itself up first (scripts/setup.sh is idempotent).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
ENV := . scripts/env.sh;
SCENARIOS ?= default

.PHONY: setup test sanity lint unit molecule lab lab-clean clean build bench bench-api lock

setup:
	@scripts/setup.sh

## The README's test command: set up, then every check CI runs.
test: setup
	@scripts/test.sh

sanity: setup
	@$(ENV) scripts/sanity.sh

lint: setup
	@$(ENV) ansible-lint --profile production

unit: setup
	@$(ENV) pytest tests/unit

molecule: setup
	@$(ENV) for s in $(SCENARIOS); do molecule test -s $$s; done

## The README's lab command: set up, then run the main job on the local lab.
lab: setup
	@scripts/lab.sh up

lab-clean:
	@scripts/lab.sh clean

build: setup
	@$(ENV) ansible-galaxy collection build --force --output-path .cache/dist .

## Figures, not a timed test: the data plane on a lab of 4 computes (created and destroyed), then the API.
bench: setup
	@$(ENV) python tests/bench/fleet.py

bench-api: setup
	@$(ENV) python tests/bench/bench.py

lock:
	@$(ENV) pip freeze --exclude-editable > requirements.lock

clean: lab-clean
	@$(ENV) for s in molecule/*/; do molecule destroy -s $$(basename $$s) >/dev/null 2>&1 || true; done
	rm -rf .cache tests/output
