# Two commands do all set-up on a fresh machine with Python 3.11:
#   make demo   virtualenv + install + sample imagery + one complete assessment
#   make test   virtualenv + install + the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SAMPLE := data/sample

.PHONY: demo test lint sample clean-venv

$(BIN)/geomon: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(SAMPLE)/catalog.json: | $(BIN)/geomon
	$(BIN)/geomon sample --scenario seguela --seed 7 --size 256 \
		--start 2024-01-01 --end 2024-12-31 --out $(SAMPLE)

sample: $(SAMPLE)/catalog.json

demo: $(BIN)/geomon $(SAMPLE)/catalog.json
	@# exit 3 means finished with degraded periods (the sample's wet quarter): still a result
	$(BIN)/geomon run pipelines/sample.yaml || test $$? -eq 3

test: $(BIN)/geomon
	$(BIN)/ruff check geomon tests benchmarks
	$(BIN)/python -m pytest

lint: $(BIN)/geomon
	$(BIN)/ruff check geomon tests benchmarks

clean-venv:
	rm -rf $(VENV)
