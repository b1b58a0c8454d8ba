VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python

.PHONY: install test test-fast demo docs benchmarks clean

install: $(VENV)/bin/python
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip setuptools wheel
	$(PY) scripts/bootstrap.py dev

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

test:
	$(PY) -m pytest -q

demo:
	$(PY) -m metaaug demo

# offline, strict: a broken link, missing page or unresolved API reference fails the build
docs:
	$(PY) -m mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache site
