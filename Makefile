.PHONY: run test lint migrate

# Start everything locally: Redis, a Celery worker and the web app on 127.0.0.1:8000.
run:
	bash scripts/run.sh

# The whole test suite with its services (what CI runs). Pass pytest args with ARGS="...".
test:
	bash scripts/test.sh $(ARGS)

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

migrate:
	.venv/bin/python manage.py migrate
