.PHONY: run demo test bench lint migrate lab-up lab-down lab-images

# Start everything locally: Redis, a Celery worker and the web app on 127.0.0.1:8000.
run:
	bash scripts/run.sh

# `make run` on the network-namespace lab (root): real BIRD, sshd and the Junos simulator,
# with a seeded cluster whose VMs are really routed to the lab's core.
demo:
	bash scripts/run.sh --lab

# The lab alone (root): namespaces, sshd, BIRD on the core, the Junos simulator.
lab-up:
	.venv/bin/python -m lab up $(LAB_ARGS)

lab-down:
	.venv/bin/python -m lab down

# Offline guest images for real hypervisors in the lab (QEMU kernel+initrd, LXD busybox).
lab-images:
	.venv/bin/python -m lab.images build

# The whole test suite with its services (what CI runs). Pass pytest args with ARGS="...".
test:
	bash scripts/test.sh $(ARGS)

# Benchmarks (tables, not tests): `make bench` or `make bench BENCH="rr_config"`.
bench:
	bash bench/run.sh $(BENCH)

# ruff, and the import contracts between the layers (pyproject.toml, [tool.importlinter]).
lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/lint-imports --no-cache --no-logo

migrate:
	.venv/bin/python manage.py migrate
