# Two commands: `make run` (set up, load the demo, serve) and `make test` (set up, lint, test).
# Everything a fresh clone needs is installed from here: the Python environment from
# pyproject.toml and the Debian packages of the real peers the tests talk to.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export PYTHONUNBUFFERED := 1

# PostgreSQL's binaries live under its major version (/usr/lib/postgresql/15/bin on bookworm).
PG_INITDB := $(or $(lastword $(sort $(wildcard /usr/lib/postgresql/*/bin/initdb))),/usr/lib/postgresql/missing/bin/initdb)
# Debian packages: command or file that proves each is there -> package name.
SYSTEM_PACKAGES := \
	/usr/bin/storescu:dcmtk \
	/usr/bin/dcm2pnm:dcmtk \
	/usr/bin/openssl:openssl \
	/usr/sbin/Orthanc:orthanc \
	/usr/share/orthanc/plugins/libOrthancDicomWeb.so:orthanc-dicomweb \
	/usr/bin/chromium:chromium \
	/usr/bin/node:nodejs \
	$(PG_INITDB):postgresql \
	/usr/bin/redis-server:redis-server \
	/usr/sbin/nginx:nginx

.PHONY: run run-scaled test bench load lint format system-deps venv migrate clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

system-deps:
	@missing=""; for entry in $(SYSTEM_PACKAGES); do \
		path=$${entry%%:*}; pkg=$${entry##*:}; \
		[ -e "$$path" ] || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages:$$missing"; \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$(echo $$missing | tr ' ' '\n' | sort -u) >/dev/null; \
	fi

migrate: venv
	$(BIN)/python manage.py migrate --noinput -v 0

run: venv migrate
	$(BIN)/python manage.py ensure_admin
	$(BIN)/python manage.py load_demo
	$(BIN)/python manage.py collectstatic --noinput -v 0
	@echo "Serving on http://$(HOST):$(PORT)/, DICOM listener on port $${DICOM_PORT:-11112}  (Ctrl-C to stop)"
	@trap 'kill $$(jobs -p) 2>/dev/null; wait' EXIT INT TERM; \
	$(BIN)/python manage.py dicom_listener & \
	$(BIN)/python manage.py retrieve_worker & \
	$(BIN)/python -m viewerproject.serve --host $(HOST) --port $(PORT)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Two passes: the embedded default (SQLite, in-memory channel layer), then the suite again on
# PostgreSQL + Redis (a temp cluster and server, started and stopped by tests.services), with
# the scale-out fault tests (marked scaleout), which start their own deployment. The second
# pass leaves out the tests marked backend_independent (tests/conftest.py says which and why):
# they touch neither database nor channel layer, so a second run would only repeat the first.
test: venv system-deps lint
	REQUIRE_PEERS=1 $(BIN)/python -m pytest -n 2 --dist loadfile -m "not scaleout"
	REQUIRE_PEERS=1 $(BIN)/python -m tests.services run -- \
		$(BIN)/python -m pytest -n 2 --dist loadfile -p no:cacheprovider -m "not backend_independent"
	node --test tests/js/

# PostgreSQL, Redis, nginx on $(PORT) over two uvicorn processes, the DICOM listener and two
# retrieve workers, all on 127.0.0.1, state kept in var/scaled (Ctrl-C stops everything).
run-scaled: venv system-deps
	$(BIN)/python -m tests.services scaled --port $(PORT)

# Simulated viewers and C-STORE senders against a private scale-out deployment; bounded in
# time and count, loopback only. LOAD_ARGS="--viewers 40 --duration 120" to change it.
load: venv system-deps
	$(BIN)/python -m tests.load $(LOAD_ARGS)

bench: venv system-deps
	$(BIN)/python -m tests.bench

clean:
	rm -rf var/test .pytest_cache
