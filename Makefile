# Two commands: `make run` (set up, then run everything in the foreground)
# and `make test` (set up, then lint and run the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
BIND ?= 127.0.0.1

.PHONY: run test setup services database lint format bench rebuild-redis clean

$(BIN)/.installed: requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	@touch $@

services: $(BIN)/.installed
	@$(BIN)/python scripts/check_services.py

database: $(BIN)/.installed
	@$(BIN)/python scripts/check_services.py --create-db
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo

setup: database

run: setup
	@echo "Serving http://$(BIND):$(PORT)/ (REST /api/v1/, WebSocket /ws/chat/); Ctrl-C stops everything."
	CHAT_PORT=$(PORT) CHAT_BIND=$(BIND) $(BIN)/honcho start -f Procfile

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(BIN)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: services lint
	@# pytest exits 5 when it collected no tests: say so instead of failing obscurely.
	$(BIN)/pytest || { rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; exit 0; fi; exit $$rc; }

bench: setup
	$(BIN)/python scripts/bench.py

rebuild-redis: $(BIN)/.installed
	$(BIN)/python manage.py rebuild_redis

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
