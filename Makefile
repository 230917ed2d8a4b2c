# Two commands: `make run` (set up, then run everything in the foreground)
# and `make test` (set up, then lint and run the whole suite). The set-up is
# scripts/bootstrap.sh, which .ci/run uses too.
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
BIND ?= 127.0.0.1

.PHONY: run test setup lint format bench rebuild-redis clean

# System packages, services, .venv, database, migrations, demo users.
setup:
	@bash scripts/bootstrap.sh run

$(BIN)/.installed: requirements.txt
	@bash scripts/bootstrap.sh install

# The launcher must be make's own child (exec): it notices make being stopped.
run: setup
	exec $(BIN)/python scripts/run.py --port $(PORT) --bind $(BIND)

# Lint: ruff, models that changed without a migration, and mypy on the apps
# and scripts/ (paths and settings: [tool.mypy] in pyproject.toml).
LINT = $(BIN)/ruff check . && $(BIN)/ruff format --check . \
	&& $(BIN)/python manage.py makemigrations --check --dry-run --verbosity 0 \
	&& $(BIN)/mypy

lint: $(BIN)/.installed
	$(LINT)

format: $(BIN)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The fast layer first (no database, no Redis), then everything else.
# pytest exits 5 when it collected no tests: that fails too.
test:
	@bash scripts/bootstrap.sh test
	$(LINT)
	$(BIN)/pytest -m unit -q
	$(BIN)/pytest -m "not unit" || { rc=$$?; [ $$rc -ne 5 ] || echo "pytest collected no tests" >&2; exit $$rc; }

# docs/benchmarks.md: knobs (BENCH_*), phases and what each figure means.
bench: setup
	$(BIN)/python -m scripts.bench

rebuild-redis: $(BIN)/.installed
	$(BIN)/python manage.py rebuild_redis

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
