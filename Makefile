# Two commands do all set-up on a fresh machine:
#   make run    create .venv, install, build the image derivatives, serve on $(HOST):$(PORT)
#   make test   install the test extras and run the whole suite
#   make bench  benchmark against IIPImage (QUICK=1 for about a minute)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
PYTEST_ARGS ?=

.PHONY: run test bench fuzz install install-test ingest standins clean

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

# Beeldpost against IIPImage side by side (installs iipimage-server, lighttpd and wrk
# with apt-get when missing). QUICK=1 for a one-minute run; see bench/README.md.
bench: install
	$(BIN)/python bench/run.py $(if $(QUICK),--quick)

# Coverage-guided fuzzing of the URL grammar (atheris), on demand.
FUZZ_SECONDS ?= 60
fuzz: install-test
	$(BIN)/pip install --quiet atheris
	$(BIN)/python tests/fuzz/fuzz_parameters.py -max_total_time=$(FUZZ_SECONDS)

# Redraw the stand-in photos in images/ (they are committed; this is deterministic).
standins: install
	$(BIN)/python images/make_standins.py

clean:
	rm -rf var/cache .pytest_cache .hypothesis
