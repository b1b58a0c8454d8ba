VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
# written by a finished install; the targets that need the environment install it first, once
STAMP := $(VENV)/.metaaug-installed

.PHONY: install test test-slow lint format demo docs clean

install: $(VENV)/bin/python
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip setuptools wheel
	$(PY) scripts/bootstrap.py dev
	touch $(STAMP)

$(STAMP): pyproject.toml scripts/bootstrap.py scripts/torchvision_startup.py scripts/gym_notice_startup.py
	$(MAKE) install

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# two worker processes (pytest-xdist), whole files to each: the tests themselves use one torch thread
test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile

# the long tests that `make test` leaves out
test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

# ruff (lint rules and formatting) on the whole tree, mypy on the package
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

demo: $(STAMP)
	$(PY) -m metaaug demo

# offline, strict: a broken link, missing page or unresolved API reference fails the build
docs: $(STAMP)
	$(PY) -m mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache site
