# The two commands of the README: `make up` (the whole desk) and `make test` (the whole suite).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
SAMPLES ?= $(wildcard ../shared/samples)

.PHONY: install up test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

up: $(STAMP)
	$(BIN)/vigie up $(if $(SAMPLES),--send-samples $(SAMPLES))

test: $(STAMP)
	bash scripts/ensure-chromium
	bash scripts/ensure-tools
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=30 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python -m bench.intake
	$(BIN)/python -m bench.absence
	$(BIN)/python -m bench.console
	$(BIN)/python -m bench.storm

clean:
	rm -rf var
