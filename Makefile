# Two commands do all set-up on a fresh machine (Python 3.11, pip, make): `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
TOOLS := .tools
BIN := $(abspath $(VENV))/bin
UV := $(TOOLS)/bin/uv
# STACK.md trap 3: dbt must be on PATH for dagster-dbt; trap 4: parse with the environment of the runs.
export PATH := $(BIN):$(PATH)
MANIFEST := dbt_project/target/manifest.json
DBT_SOURCES := $(shell find dbt_project -name '*.sql' -o -name '*.yml' -o -name '*.py' | grep -v -e '/target/' -e '/logs/')

.PHONY: install prepare demo test lint format ui clean

install: $(VENV)/.installed

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==0.13.9

# uv pip sync removes what the lock does not list, so the editable install comes after it.
$(VENV)/.installed: requirements.lock pyproject.toml | $(UV)
	test -x $(BIN)/python || $(UV) venv --quiet --python $(PYTHON) $(VENV)
	VIRTUAL_ENV=$(abspath $(VENV)) $(UV) pip sync --quiet --compile-bytecode requirements.lock
	VIRTUAL_ENV=$(abspath $(VENV)) $(UV) pip install --quiet --no-deps --compile-bytecode -e .
	touch $@

# The dbt manifest is prepared here, never at import time (STACK.md trap 1).
prepare: $(MANIFEST)

$(MANIFEST): $(VENV)/.installed $(DBT_SOURCES)
	$(BIN)/healthwatch prepare
	touch $@

demo: prepare
	$(BIN)/healthwatch demo

# Two pytest-xdist workers (one per core here); a test file stays on one worker, so its
# module fixtures are built once. TEST_WORKERS=0 runs the suite in this process.
TEST_WORKERS ?= 2

test: prepare
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

ui: prepare
	$(BIN)/healthwatch ui

clean:
	rm -rf $(VENV) $(TOOLS) dbt_project/target dbt_project/logs
