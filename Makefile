# Two commands for a new user: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export KB_DATABASE_URL ?= sqlite:///data/kb.sqlite

.PHONY: demo test install lint typecheck bench clean serve

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## demo: load the shipped real records (or harvest live with NETWORK=1), tag them, serve the dashboard
demo: $(STAMP)
	$(BIN)/kb import --sample
	@if [ "$(NETWORK)" = "1" ]; then $(BIN)/kb harvest pubmed --max 2000 || true; fi
	$(BIN)/kb tag
	$(BIN)/kb stats
	$(BIN)/kb serve --port 8501

## test: lint, type-check and run the whole suite (no network)
test: $(STAMP)
	$(BIN)/ruff check harvester kb dashboard tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check harvester kb dashboard tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

## bench: every benchmark (figures in the README); needs the [bench] extra for the parser peers
bench: $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python bench/parse_pubmed.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/classify.py
	$(BIN)/python bench/dashboard.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
