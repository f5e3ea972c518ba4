# Two commands do all set-up on a fresh machine:
#   make run    create .venv, install, build the image derivatives, serve on $(HOST):$(PORT)
#   make test   install the test extras and run the whole suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
PYTEST_ARGS ?=

.PHONY: run test install install-test ingest standins clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

ingest: install
	$(BIN)/beeldpost ingest

run: install
	-$(BIN)/beeldpost ingest
	$(BIN)/beeldpost serve --host $(HOST) --port $(PORT)

test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Redraw the stand-in photos in images/ (they are committed; this is deterministic).
standins: install
	$(BIN)/python images/make_standins.py

clean:
	rm -rf var/cache .pytest_cache .hypothesis
