# The two commands a newcomer needs: `make run` and `make test`.
#
# Each has its own environment, so the test-only plugins never reach the demo:
#   .venv/       `make run`: core and every plugin under plugins/, editable
#   .venv-test/  `make test`, `make bench`: the same plus test extras and the test-only plugins
# Installs are editable, so code changes need no reinstall; each environment is reinstalled only
# when a distribution's metadata (setup.cfg, pyproject.toml) changed since, per a stamp file.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TEST_VENV := .venv-test
TEST_BIN := $(TEST_VENV)/bin
PLUGINS := $(sort $(dir $(wildcard plugins/*/setup.cfg)))
TEST_PLUGINS := $(sort $(dir $(wildcard tests/plugins/*/setup.cfg examples/plugins/*/setup.cfg)))
METADATA := setup.cfg pyproject.toml $(wildcard plugins/*/setup.cfg plugins/*/pyproject.toml)
TEST_METADATA := $(METADATA) $(wildcard $(addsuffix setup.cfg,$(TEST_PLUGINS)) $(addsuffix pyproject.toml,$(TEST_PLUGINS)))
# The distribution names of the test-only plugins, to take them out of an older .venv that had them.
TEST_PLUGIN_NAMES := $(foreach p,$(TEST_PLUGINS),$(shell sed -n 's/^name *= *//p' $(p)setup.cfg))
# Tests that need PostgreSQL read this URL; the local server of this machine kind by default.
CHINWAG_TEST_POSTGRES_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test
export CHINWAG_TEST_POSTGRES_URL

.PHONY: run test bench install install-test browser proxies clean

$(BIN)/python $(TEST_BIN)/python:
	$(PYTHON) -m venv $(patsubst %/bin/python,%,$@)
	$(@D)/pip install -q --upgrade pip

# Core and every plugin under plugins/, editable; no test-only plugin.
$(VENV)/.installed: $(METADATA) | $(BIN)/python
	$(BIN)/pip install -q -e . $(foreach p,$(PLUGINS),-e $(p))
	-@$(BIN)/pip uninstall -q -y $(TEST_PLUGIN_NAMES) >/dev/null 2>&1
	touch $@

# The same plus test extras and the test-only plugin distributions (tests/plugins/, examples/plugins/).
$(TEST_VENV)/.installed: $(TEST_METADATA) | $(TEST_BIN)/python
	$(TEST_BIN)/pip install -q -e '.[test]' $(foreach p,$(PLUGINS),-e $(p)) $(foreach p,$(TEST_PLUGINS),-e $(p))
	touch $@

install: $(VENV)/.installed

install-test: $(TEST_VENV)/.installed

# Headless Chromium from Debian's packages, for the widget's browser tests.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; fi; }

# nginx and Caddy from Debian's packages: the deployment guide's test runs its nginx configuration
# in front of chinwag and validates its Caddyfile (docs/deployment.md).
proxies:
	@command -v nginx >/dev/null 2>&1 && command -v caddy >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light caddy; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light caddy; fi; }

run: install
	$(BIN)/chinwag serve examples/quickstart --demo

# The suite runs on several workers (pytest-xdist): most tests wait on servers, browsers and
# subprocesses, so three workers keep two cores busy. Each test file runs whole on one worker, in
# its order: some files tell one story over a module's server (the console's browser tests).
# PYTEST_WORKERS=0 runs the suite in one process.
PYTEST_WORKERS ?= 3

test: install-test browser proxies
	$(TEST_BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile

bench: install-test
	$(TEST_BIN)/python -m bench

clean:
	rm -rf $(VENV) $(TEST_VENV) *.egg-info core/*.egg-info plugins/*/*.egg-info
