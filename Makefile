# Two commands set everything up on a fresh machine: `make demo` and `make test`.
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: venv demo test test-slow lint format bench clean

venv:
	@bash .ci/ensure-venv

demo: venv
	$(BIN)/pytyche demo --out out

test: venv
	MPLBACKEND=Agg $(BIN)/python -m pytest tests $(wildcard notebooks/*.ipynb) --nbmake $(PYTEST_ARGS)

test-slow: venv
	MPLBACKEND=Agg $(BIN)/python -m pytest tests -m slow $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

bench: venv
	$(BIN)/python experiments/bench_forest.py

clean:
	rm -rf $(VENV) out .pytest_cache
