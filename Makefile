# make run: set everything up and start web + Celery worker + Celery beat.
# make test: set up the virtualenv and run lint, migration checks and the tests.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-requirements

.PHONY: run test test-nova lint venv bench aims clean

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

venv: $(STAMP)

run: venv
	@$(PY) manage.py migrate --noinput -v 0
	@$(PY) manage.py bootstrap
	@# Prints the login and URLs once the web server answers; Ctrl-C stops all three and exits 0.
	@PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m automigrate.runner

lint: venv
	$(VENV)/bin/ruff check .
	$(PY) manage.py makemigrations --check --dry-run

test: lint
	@$(PY) -c "import dj_database_url, os; e = dj_database_url.config(default='sqlite://')['ENGINE']; print('make test: database is', 'PostgreSQL (DATABASE_URL)' if 'postgres' in e else 'SQLite (set DATABASE_URL=postgres://... to use PostgreSQL)')"
	$(PY) -m pytest -m "not nova" $(PYTEST_ARGS)

# The real-Nova tier (tests/nova): needs the Nova virtualenv .ci/run builds (AUTOMIGRATE_NOVA_VENV).
test-nova: venv
	$(PY) -m pytest tests/nova $(PYTEST_ARGS)

bench: venv
	$(PY) bench/engine.py

# Issue 14's aims table in BENCHMARKS.md: simulate on every shared trace, every policy, seeds 0-5 (2 jobs).
aims: venv
	$(PY) bench/aims.py --jobs 2 --write

clean:
	rm -rf $(VENV) var staticfiles

# A two-host libvirt + QEMU lab on this machine (root, Debian/Ubuntu): see README "Try it on one machine".
LAB_DIR ?= var/lab
LAB_PACKAGES := libvirt-daemon-system libvirt-clients libvirt-daemon-driver-qemu qemu-system-x86 libvirt-dev pkg-config gcc gcc-multilib make
.PHONY: lab lab-down lab-packages
lab-packages:
	@dpkg -s $(LAB_PACKAGES) >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends $(LAB_PACKAGES); }

lab: lab-packages venv
	$(PY) -m pip install --quiet -r requirements-libvirt.txt
	$(PY) lab/libvirt_lab.py up --dir $(LAB_DIR)
	@echo "# paste the lines above into your shell, then: make run"

lab-down:
	$(PY) lab/libvirt_lab.py down --dir $(LAB_DIR)
