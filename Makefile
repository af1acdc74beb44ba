# thermcli — set-up, tests, demo, benchmarks.
# `make test` / `make demo` create .venv and install on first use; the stamp makes a second
# run skip the installation.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.stamp-install

.PHONY: install test test-all demo bench docs results results-all clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -q -m "not slow"

test-all: $(STAMP)
	$(PY) -m pytest -q

demo: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash scripts/demo.sh

bench: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) bench/run_all.py

# The manual (README.md + docs/) as a static site in site/; strict: a broken link fails it
# (tests/test_docs.py runs the same build, so `make test` checks it too).
docs: $(STAMP)
	$(PY) -m mkdocs build --strict

# docs/results/*.md: every page written by its script under scripts/results/ (date, commit,
# machine and commands beside the numbers). `results`: the quick ones (a few minutes);
# `results-all` also re-runs `make demo`, the real-data breathing example and the benchmarks
# (run it on an idle machine).
RESULTS_QUICK := radiometric respiration adda_digits carried
results: $(STAMP)
	for s in $(RESULTS_QUICK); do PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) scripts/results/$$s.py || exit 1; done
	$(PY) scripts/results/index.py

results-all: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) scripts/results/demo.py
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) scripts/results/breathing_real.py
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) scripts/results/benchmarks.py --all
	$(MAKE) results

clean:
	rm -rf $(VENV) demo_out .pytest_cache site
