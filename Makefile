# Cần Thơ Smart City Platform — two commands do everything: `make run`, `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NGSILD_VENV := .venv-ngsildclient

.PHONY: run test lint typecheck bench clean install

$(STAMP): pyproject.toml constraints.txt src/smartcity/web/assets.lock.json
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	$(BIN)/python -m smartcity.web.assets
	touch $(STAMP)

install: $(STAMP)

# A separate environment for ngsildclient, the third-party NGSI-LD client used in the
# interoperability test: it pins old httpx/isodate versions the platform does not use.
$(NGSILD_VENV)/.installed: constraints-ngsildclient.txt
	$(PYTHON) -m venv $(NGSILD_VENV)
	$(NGSILD_VENV)/bin/pip install --quiet -c constraints-ngsildclient.txt ngsildclient
	touch $@

run: $(STAMP)
	$(BIN)/smartcity run

test: $(STAMP) $(NGSILD_VENV)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/broker.py

clean:
	rm -rf $(VENV) $(NGSILD_VENV) var .pytest_cache .mypy_cache .ruff_cache
