# simsiam_mm: every target sets up the environment first (idempotent).
VENV ?= .venv
PY := $(VENV)/bin/python
export VENV

.PHONY: install demo transfer-demo test test-fast lint format ablations clean

install:
	@bash tools/install.sh

demo: install
	@$(PY) tools/demo.py

transfer-demo: install
	@$(PY) tools/transfer_demo.py

test: install
	@$(PY) -m pytest -q

# the development subset: everything but the end-to-end tests marked slow
test-fast: install
	@$(PY) -m pytest -q -m "not slow"

lint: install
	@$(VENV)/bin/flake8 simsiam_mm tools tests benchmarks configs
	@$(VENV)/bin/isort --check-only --diff simsiam_mm tools tests benchmarks
	@$(VENV)/bin/yapf --diff --recursive simsiam_mm tools tests benchmarks

format: install
	@$(VENV)/bin/isort simsiam_mm tools tests benchmarks
	@$(VENV)/bin/yapf --in-place --recursive simsiam_mm tools tests benchmarks

ablations: install
	@$(PY) tools/run_ablations.py

clean:
	rm -rf work_dirs .pytest_cache
