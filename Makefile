# Two commands do all set-up on a fresh machine:
#   make run    create .venv, install, build the image derivatives, serve on $(HOST):$(PORT)
#   make test   install the test extras and run the whole suite (browser tests included)
#   make bench  benchmark against IIPImage (QUICK=1 for about two minutes; BENCH_IIPSRV=path for another iipsrv)
#   make bench-s3   W1 and W3b from a folder and from S3 (SeaweedFS), direct and through nginx (also in make bench)
#   make bench-catalogue  the catalogue with 1,000 to 100,000 items (N=1000 for one size)
#   make wheel  the installable wheel in dist/ (viewers included)
#   make lock   update constraints.txt, the versions every install takes, on purpose
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
PYTEST_ARGS ?=
# Built viewer assets (Mirador, Universal Viewer); the server reads BEELDPOST_VIEWERS, same default.
VIEWERS ?= $(or $(BEELDPOST_VIEWERS),var/viewers)
IN_CI := $(if $(filter 1 true yes TRUE True,$(CI)),true,)

.PHONY: lock run test bench bench-s3 bench-catalogue fuzz viewers chromium nginx postgresql install install-test ingest standins wheel clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Installs take the versions in constraints.txt (make lock updates it on purpose).
$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $@ $(VENV)/.installed

# constraints.txt afresh: pyproject.toml's dependencies (test extras included) resolved to
# their newest allowed versions in a clean virtual environment. Run it on purpose, then
# `make test`, and commit the file with what changed.
lock:
	rm -rf var/lock-venv
	$(PYTHON) -m venv var/lock-venv
	var/lock-venv/bin/pip install --quiet -e '.[test]'
	head -5 constraints.txt > constraints.txt.new
	var/lock-venv/bin/pip freeze --exclude-editable | LC_ALL=C sort >> constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf var/lock-venv
	@echo "make: constraints.txt updated; run make test, then commit it"

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

ingest: install
	$(BIN)/beeldpost ingest

run: install
	-$(BIN)/beeldpost ingest
	@bash frontend/ensure.sh $(VIEWERS) || echo "make: viewers not built; pages will show the photo without a viewer" >&2
	$(BIN)/beeldpost serve --host $(HOST) --port $(PORT)

# In CI (CI=true) missing viewers or chromium fail the run; elsewhere the browser tests skip.
test: install-test
	@bash frontend/ensure.sh $(VIEWERS) || { [ "$(IN_CI)" != true ] && echo "make: viewers not built; browser tests will be skipped" >&2; }
	@$(MAKE) --no-print-directory chromium nginx postgresql
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Mirador 4 and Universal Viewer 4.4 from frontend/package-lock.json (npm ci, esbuild), built
# into $(VIEWERS) only when missing or when the lock file or build scripts changed.
viewers:
	bash frontend/ensure.sh $(VIEWERS)

# Debian's chromium for the browser tests: installed with apt-get when missing and root.
# Debian's nginx, for the tests of two servers behind deploy/nginx.conf (and openssl, whose
# test certificate lets the access tests run two sites over HTTPS). Installed without
# starting its system service (policy-rc.d): the tests start their own.
nginx:
	@if { command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; } && command -v openssl >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "make: installing nginx for the proxy tests" >&2; \
	  policy=/usr/sbin/policy-rc.d; made=; \
	  if [ ! -e $$policy ]; then printf '#!/bin/sh\nexit 101\n' > $$policy; chmod +x $$policy; made=1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx openssl >/dev/null; \
	  status=$$?; [ -n "$$made" ] && rm -f $$policy; exit $$status; \
	else \
	  echo "make: the proxy tests need nginx: install it (Debian: sudo apt-get install nginx)" >&2; \
	  [ "$(IN_CI)" != true ]; \
	fi

# Debian's PostgreSQL server for the tests of the catalogue in PostgreSQL: the tests start
# their own in a temporary folder (as an unprivileged user when run as root), never the
# system service, which is installed without being started.
postgresql:
	@if ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || command -v postgres >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "make: installing postgresql for the catalogue tests" >&2; \
	  policy=/usr/sbin/policy-rc.d; made=; \
	  if [ ! -e $$policy ]; then printf '#!/bin/sh\nexit 101\n' > $$policy; chmod +x $$policy; made=1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-contrib >/dev/null; \
	  status=$$?; [ -n "$$made" ] && rm -f $$policy; exit $$status; \
	else \
	  echo "make: the PostgreSQL tests need a PostgreSQL server: install it (Debian: sudo apt-get install postgresql)" >&2; \
	  [ "$(IN_CI)" != true ]; \
	fi

chromium:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "make: installing chromium for the browser tests" >&2; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
	  echo "make: the browser tests need Chromium: install it (Debian: sudo apt-get install chromium)" >&2; \
	  [ "$(IN_CI)" != true ]; \
	fi

# The wheel, in dist/, with the built viewers inside when Node.js could build them.
wheel: | $(BIN)/python
	@bash frontend/ensure.sh $(VIEWERS) || echo "make: viewers not built; the wheel's pages will say so" >&2
	BEELDPOST_VIEWERS=$(VIEWERS) $(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir dist .

# Beeldpost against IIPImage side by side (installs iipimage-server, lighttpd and wrk
# with apt-get when missing). QUICK=1 for a two-minute run; BENCH_IIPSRV=/path/iipsrv.fcgi
# compares with that iipsrv instead of Debian's 1.1 (IIPImage 1.3: see bench/README.md).
bench: install-test
	$(BIN)/python bench/run.py $(if $(QUICK),--quick)
	$(BIN)/python bench/s3_tiles.py --nginx $(if $(QUICK),--runs 1 --duration 5)

# Beeldpost as a catalogue server: N generated items (default 1,000, 10,000 and 100,000; at
# most 40 minutes on 2 cores), cold index build, warm start, latencies, edits, RSS per worker.
# W1's cold tiles from a folder and from S3-compatible storage (SeaweedFS, started here).
bench-s3: install-test
	$(BIN)/python bench/s3_tiles.py --nginx $(if $(QUICK),--runs 1 --duration 5)

# N=1000 runs one size; see bench/README.md.
bench-catalogue: install
	$(BIN)/python bench/catalogue.py $(if $(N),--sizes $(N))

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
