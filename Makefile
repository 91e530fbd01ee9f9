# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PLUGINS := $(sort $(dir $(wildcard plugins/*/setup.cfg)))
TEST_PLUGINS := $(sort $(dir $(wildcard tests/plugins/*/setup.cfg examples/plugins/*/setup.cfg)))
# Tests that need PostgreSQL read this URL; the local server of this machine kind by default.
CHINWAG_TEST_POSTGRES_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test
export CHINWAG_TEST_POSTGRES_URL

.PHONY: run test bench install install-test browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Core and every plugin under plugins/, editable.
install: $(BIN)/python
	$(BIN)/pip install -q -e . $(foreach p,$(PLUGINS),-e $(p))

# The same plus test extras and the test-only plugin distributions under tests/plugins/.
install-test: $(BIN)/python
	$(BIN)/pip install -q -e '.[test]' $(foreach p,$(PLUGINS),-e $(p)) $(foreach p,$(TEST_PLUGINS),-e $(p))

# Headless Chromium from Debian's packages, for the widget's browser tests.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; fi; }

run: install
	$(BIN)/chinwag serve examples/quickstart --demo

test: install-test browser
	$(BIN)/python -m pytest -q

bench: install-test
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) *.egg-info core/*.egg-info plugins/*/*.egg-info
