# Set-up and entry points. `make demo` and `make test` are the README's two commands.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test quality smoke test-slow results clean

$(BIN)/.installed: pyproject.toml Makefile mda_curate/classifier/_featurize.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0          # the CPU wheel on disk; an unpinned torch pulls a CUDA build
	$(BIN)/pip install -q -e '.[dev,ray]'
	$(BIN)/pip install -q --no-deps kronfluence==1.0.1  # declares torchvision, which it never imports
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/mda-curate demo --output demo-output

test: install
	$(BIN)/pytest -q -m "not slow"

quality: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

smoke: install
	$(BIN)/mda-curate demo --quick --output .cache/smoke

test-slow: install
	$(BIN)/pytest -q -m slow

# Every results table in the docs, regenerated from the committed result files (benchmarks/make_results.py).
results: install
	$(BIN)/python benchmarks/make_results.py

clean:
	rm -rf $(VENV) .cache demo-output
