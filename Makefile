# The README names two commands: `make run` (demo) and `make test` (whole suite).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/procedo
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test test-sqlite bench lint system venv studio clean

# The process studio's modeler and form editor, bundled by esbuild from frontend/studio/ into
# frontend/build/studio/ (served as /static/studio/; git-ignored). Built at install and again
# whenever its sources change; nothing is bundled at run time.
STUDIO_BUNDLE := frontend/build/studio/modeler.js
STUDIO_SOURCES := $(shell find frontend/studio -type f 2>/dev/null) frontend/build.mjs

$(STAMP): pyproject.toml frontend/package-lock.json
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Missing $(PYTHON): install Python 3.11"; exit 1; }
	@command -v npm >/dev/null 2>&1 || bash scripts/ensure-system.sh
	cd frontend && npm ci --no-audit --no-fund --loglevel=error
	cd frontend && npm run --silent build
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	mkdir -p var
	$(BIN)/python -c "import tomllib; print('\\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > var/requirements.txt
	$(BIN)/pip install -q -r var/requirements.txt
	touch $(STAMP)

## Compiled translations (English); needs msgfmt from Debian's gettext
locale/en/LC_MESSAGES/django.mo: locale/en/LC_MESSAGES/django.po $(STAMP)
	@command -v msgfmt >/dev/null 2>&1 || bash scripts/ensure-system.sh
	PROCEDO_ENV=$${PROCEDO_ENV:-demo} $(BIN)/python manage.py compilemessages --locale en --ignore ".venv" --ignore "frontend" --ignore "var" -v 0

venv: $(STAMP)

$(STUDIO_BUNDLE): $(STAMP) $(STUDIO_SOURCES)
	cd frontend && npm run --silent build

studio: $(STUDIO_BUNDLE)

## Demo: embedded SQLite, filesystem broker, demo data, on http://127.0.0.1:8000
run: $(STAMP) $(STUDIO_BUNDLE) locale/en/LC_MESSAGES/django.mo
	bash scripts/run-demo.sh

## System packages and services the suite needs (apt when root, else names what is missing)
system:
	bash scripts/ensure-system.sh

## The whole suite, on PostgreSQL and Redis
test: $(STAMP) $(STUDIO_BUNDLE) system locale/en/LC_MESSAGES/django.mo
	PROCEDO_ENV=test DATABASE_URL=$(TEST_DATABASE_URL) PROCEDO_TEST_REDIS_URL=$(TEST_REDIS_URL) \
		$(BIN)/python -m pytest $(PYTEST_ARGS)

## Quick loop on SQLite (tests marked postgres are skipped there)
test-sqlite: $(STAMP)
	PROCEDO_ENV=test $(BIN)/python -m pytest $(PYTEST_ARGS)

## Benchmarks: figures written to bench/RESULTS.md
bench: $(STAMP) system
	DATABASE_URL=$(TEST_DATABASE_URL) bash bench/run.sh

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf var $(VENV)
