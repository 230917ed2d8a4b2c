# Two commands: `make run` (set up, then run everything in the foreground)
# and `make test` (set up, then lint and run the whole suite). The set-up is
# scripts/bootstrap.sh, which .ci/run uses too.
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
BIND ?= 127.0.0.1

.PHONY: run test setup lint check-migrations format bench rebuild-redis clean cluster

# System packages, services, .venv, database, migrations, demo users.
setup:
	@bash scripts/bootstrap.sh run

# .venv with requirements-dev.txt (tests and tooling on top of requirements.txt).
$(VENV)/.installed-dev: requirements.txt requirements-dev.txt
	@bash scripts/bootstrap.sh install

# The launcher must be make's own child (exec): it notices make being stopped.
run: setup
	exec $(BIN)/python scripts/run.py --port $(PORT) --bind $(BIND)

# The same server on three hosts simulated with network namespaces (root only):
# Galera, Redis Cluster, Sentinel, RabbitMQ and an app node per host, haproxy
# in front on BIND:PORT (docs/deployment.md). Ctrl-C removes all of it.
cluster:
	@bash scripts/bootstrap.sh cluster
	exec $(BIN)/python scripts/cluster.py up --port $(PORT) --bind $(BIND)

# Lint: ruff, the import contracts of the floors (pyproject.toml), models that
# changed without a migration, mypy on the apps and scripts/ ([tool.mypy]), and
# tsc on the JavaScript SDK's declarations (once bootstrap installed sdk/js's node_modules).
LINT = $(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports \
	&& $(MIGRATIONS_CHECK) && $(BIN)/mypy && $(SDK_JS_LINT)

SDK_JS_TSC = sdk/js/node_modules/.bin/tsc
SDK_JS_LINT = { [ ! -x $(SDK_JS_TSC) ] || $(SDK_JS_TSC) --noEmit -p sdk/js; }

# Models that changed without a migration; no database needed (settings_lint).
MIGRATIONS_CHECK = DJANGO_SETTINGS_MODULE=chat_project.settings_lint \
	$(BIN)/python manage.py makemigrations --check --dry-run --verbosity 0

lint: $(VENV)/.installed-dev
	$(LINT)

check-migrations: $(VENV)/.installed-dev
	@$(MIGRATIONS_CHECK)

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The fast layer first (no database, no Redis), then everything else.
# pytest exits 5 when it collected no tests: that fails too.
# Coverage of the app packages, both runs together (pyproject.toml [tool.coverage]),
# in the pytest processes and the daphnes, workers and `make run`s they start.
# Each `make test` keeps its data in a file of its own: two runs side by side do not mix.
COV = --cov --cov-report=
test: export COVERAGE_FILE := $(shell mktemp -u /tmp/chat-coverage.XXXXXX)
test:
	@bash scripts/bootstrap.sh test
	$(LINT)
	$(BIN)/coverage erase
	$(BIN)/pytest -m unit -q $(COV)
	$(BIN)/pytest -m "not unit" $(COV) --cov-append \
		|| { rc=$$?; [ $$rc -ne 5 ] || echo "pytest collected no tests" >&2; exit $$rc; }
	@$(BIN)/coverage report
	@echo "Coverage: $$($(BIN)/coverage report --format=total)% of the app's statements"
	@echo "Missed lines: COVERAGE_FILE=$$COVERAGE_FILE $(BIN)/coverage report -m"

# docs/benchmarks.md: knobs (BENCH_*), phases and what each figure means.
# Its load generator needs websockets, from requirements-dev.txt.
bench: setup $(VENV)/.installed-dev
	$(BIN)/python -m scripts.bench

rebuild-redis: $(VENV)/.installed-dev
	$(BIN)/python manage.py rebuild_redis

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
