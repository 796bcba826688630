# Two commands set everything up on a fresh machine: `make demo` and `make test`.
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# Compiled fits are cached across processes (tests, notebooks) in the repository.
TEST_ENV := MPLBACKEND=Agg PYTYCHE_JAX_CACHE=$(CURDIR)/.cache/jax

.PHONY: venv demo test test-slow lint format bench figures clean

venv:
	@bash .ci/ensure-venv

demo: venv
	$(BIN)/pytyche demo --out out

test: venv
	$(TEST_ENV) $(BIN)/python -m pytest tests $(wildcard notebooks/*.ipynb) --nbmake $(PYTEST_ARGS)

test-slow: venv
	$(TEST_ENV) $(BIN)/python -m pytest tests -m slow $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

bench: venv
	$(BIN)/python experiments/bench_forest.py
	$(BIN)/python experiments/bench_bcf.py

figures: venv
	MPLBACKEND=Agg $(BIN)/python papers/make_figures.py

clean:
	rm -rf $(VENV) out .pytest_cache .cache
