# HESO: `make run` to start it, `make test` to test it. `make help` lists every target.
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PLUGINS := $(wildcard plugins/channels/*/setup.cfg plugins/policy_sources/*/setup.cfg)
STAMP := $(VENV)/.installed
MYPY := $(VENV)/bin/mypy --config-file setup.cfg
# The console's browser tests drive Debian's Chromium through Playwright (no browser download).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# pytest-xdist workers: more than the 2 cores CI has, because many tests wait on processes,
# servers and long-polls rather than compute (4 workers: 2.4x faster than one on 2 cores).
TEST_WORKERS ?= 4

.DEFAULT_GOAL := help
.PHONY: help install test-tools bench-tools run test lint bench clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

# The SDK (client/, distribution heso-client) first: the server depends on it. Both editable with
# editable_mode=compat, which puts client/ and the checkout on sys.path: the regular package heso/
# must be found on sys.path (a setuptools finder comes after it, and `import heso` would find only
# the namespace portion client/heso), and heso/__init__.py's extend_path then adds client/heso.
$(STAMP): setup.cfg pyproject.toml client/setup.cfg client/pyproject.toml $(PLUGINS)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e client --config-settings editable_mode=compat
	$(PIP) install -q -e '.[test]' --config-settings editable_mode=compat
	for plugin in $(dir $(PLUGINS)); do $(PIP) install -q -e $$plugin || exit 1; done
	touch $(STAMP)

# The real Claude Code CLI for the coding-agent hook tests (tests/integrations/hooks), pinned, project-local.
CLAUDE_CODE_VERSION := 2.1.337
CLAUDE_STAMP := .cache/npm/.claude-code-$(CLAUDE_CODE_VERSION)
$(CLAUDE_STAMP):
	npm install --prefix .cache/npm --no-audit --no-fund --loglevel=error @anthropic-ai/claude-code@$(CLAUDE_CODE_VERSION)
	touch $(CLAUDE_STAMP)

# The TypeScript client (clients/typescript, tests/client/test_typescript.py): its pinned tsc from
# package-lock.json (npm ci again only when the lock changes), then dist/ built from src/.
TS_CLIENT := clients/typescript
TS_STAMP := $(TS_CLIENT)/node_modules/.package-lock.json
$(TS_STAMP): $(TS_CLIENT)/package-lock.json
	npm ci --prefix $(TS_CLIENT) --no-audit --no-fund --loglevel=error
	touch $(TS_STAMP)
$(TS_CLIENT)/dist/index.js: $(TS_STAMP) $(TS_CLIENT)/tsconfig.json $(wildcard $(TS_CLIENT)/src/*.ts)
	npm run --prefix $(TS_CLIENT) --silent build
	touch $@

# axe-core, the accessibility checker the console's browser tests run in Chromium (tests/console).
AXE_VERSION := 4.14.1
AXE_STAMP := .cache/npm/.axe-core-$(AXE_VERSION)
$(AXE_STAMP):
	npm install --prefix .cache/npm --no-audit --no-fund --loglevel=error axe-core@$(AXE_VERSION)
	touch $(AXE_STAMP)

install: $(STAMP) ## Create .venv and install HESO, its built-in plugins and the Python test tools

test-tools: $(CHROMIUM) $(CLAUDE_STAMP) $(AXE_STAMP) $(TS_CLIENT)/dist/index.js ## What the tests drive: Chromium, the Claude Code CLI, axe-core, the TypeScript client

$(CHROMIUM):
	$(SUDO) apt-get install -y -q chromium || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium; }

run: install ## Migrate the database and run web + worker + scheduler (Ctrl-C stops all)
	$(VENV)/bin/heso run

lint: install ## ruff, then mypy (strict on the plugin API and the SDK)
	$(VENV)/bin/ruff check .
	$(MYPY)

test: install test-tools ## Lint and type-check, then the whole test suite (fails if no test ran)
	$(VENV)/bin/ruff check .
	$(MYPY)
	$(PY) -m pytest -n $(TEST_WORKERS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; \
	exit $$status

# wrk, the benchmarks' HTTP load generator (benchmarks/decisions.py): a C client leaves the 2 cores to
# the servers under test. Debian's package; only the benchmarks need it, not make test.
WRK := /usr/bin/wrk
$(WRK):
	$(SUDO) apt-get install -y -q wrk || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q wrk; }

bench-tools: $(WRK) ## What the benchmarks drive: wrk

bench: install bench-tools ## Run the benchmarks (see benchmarks/README.md)
	$(PY) benchmarks/decisions.py

clean: ## Remove .venv and the local database
	rm -rf $(VENV) instance
