# Quick start: `make demo` (the whole job on a local moto server) and `make test` (the whole suite).
# The harness (tests/support: moto sandbox, fault proxy, demo environment) is the package `support`:
# pytest.ini puts tests/ on the path for the tests, PYTHONPATH=tests below for the scripts.
# Both create .venv and the collection link on first use; nothing is installed outside the checkout
# (ansible-test keeps its own venvs and pip bootstrap under ~/.ansible/test, as it always does).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
COLLECTIONS := .ansible/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/ecsrds/connect
PYTEST_WORKERS ?= auto
BENCH_RUNS ?= 5

# Development tools, pinned in requirements-tools.txt (a pip constraints file); each target installs
# only the tools it uses, on first use. galaxy-importer pins an older attrs than the test venv has,
# so it gets a venv of its own.
TOOLS := requirements-tools.txt
LINT_STAMP := $(VENV)/.installed-ansible-lint
CHANGELOG_STAMP := $(VENV)/.installed-antsibull-changelog
BUILDER_STAMP := $(VENV)/.installed-ansible-builder
IMPORTER_VENV := .venv-importer
IMPORTER_STAMP := $(IMPORTER_VENV)/.installed
EE_DIR := build/ee

export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export AWS_EC2_METADATA_DISABLED := true

.PHONY: help install demo test unit integration sanity targets lint docs-check changelog changelog-lint \
	build-check ee-check reliability bench clean

help:
	@echo "make demo         - run site.yml twice on a local moto server and show what was built"
	@echo "make test         - the whole suite: unit integration sanity targets lint docs-check changelog-lint build-check ee-check"
	@echo "make unit | integration"
	@echo "make sanity       - ansible-test sanity and ansible-test units (no ignore files)"
	@echo "make targets      - the acceptance targets with ansible-test on moto (unchanged on a real account: docs/REAL-AWS.md)"
	@echo "make lint         - ansible-lint, production profile, offline"
	@echo "make docs-check   - ansible-doc renders every module and role"
	@echo "make changelog    - regenerate CHANGELOG.rst from changelogs/ (after adding a fragment)"
	@echo "make changelog-lint - antsibull-changelog lint; CHANGELOG.rst matches changelogs/changelog.yaml"
	@echo "make build-check  - galaxy tarball builds, installs, runs from the install; galaxy-importer accepts it"
	@echo "make ee-check     - ansible-builder introspect and create for tests/ee/execution-environment.yml"
	@echo "make reliability  - run the fault tests and regenerate docs/RELIABILITY.md from what they saw"
	@echo "make bench        - time site.yml beside stock modules on moto, then its converge on AWS's latencies (1, 4, 10 services)"
	@echo "                    against the critical path; regenerates docs/BENCHMARKS.md (BENCH_RUNS=5; not in test)"

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn ../../../.. $@

install: $(STAMP) $(COLLECTION_LINK)

demo: install
	PYTHONPATH=tests:.ansible/collections $(BIN)/python tests/demo/run_demo.py

test: unit integration sanity targets lint docs-check changelog-lint build-check ee-check

unit: install
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) tests/unit

integration: install
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) tests/integration

# ansible-test runs on a copy of the checkout under tests/output/collections/ (it needs a real
# .../ansible_collections/ecsrds/connect with amazon.aws beside it); see tests/tools/run_ansible_test.py.
sanity: install
	$(BIN)/python tests/tools/run_ansible_test.py sanity
	$(BIN)/python tests/tools/run_ansible_test.py units

# The acceptance targets (tests/integration/targets/) with ansible-test against a moto server: the same
# targets run unchanged on a real account (docs/REAL-AWS.md).
targets: install
	PYTHONPATH=tests $(BIN)/python tests/tools/run_targets.py

$(LINT_STAMP): $(STAMP) $(TOOLS)
	$(BIN)/pip install --quiet -c $(TOOLS) ansible-lint
	touch $@

# Offline (.ansible-lint): our collection through the link, amazon.aws/community.aws from .venv.
lint: $(LINT_STAMP) $(COLLECTION_LINK)
	PATH="$(CURDIR)/$(BIN):$$PATH" ANSIBLE_COLLECTIONS_PATH="$(CURDIR)/$(COLLECTIONS)" $(BIN)/ansible-lint

docs-check: install
	$(BIN)/python tests/tools/check_docs.py

$(CHANGELOG_STAMP): $(STAMP) $(TOOLS)
	$(BIN)/pip install --quiet -c $(TOOLS) antsibull-changelog
	touch $@

# antsibull-changelog finds the modules with ansible-doc, through the collection link.
changelog: $(CHANGELOG_STAMP) $(COLLECTION_LINK)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/antsibull-changelog generate --refresh --reload-plugins

changelog-lint: $(CHANGELOG_STAMP)
	$(BIN)/antsibull-changelog lint
	$(BIN)/antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml
	mkdir -p build
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/antsibull-changelog generate --output build/CHANGELOG.rst --output-format rst
	@cmp -s build/CHANGELOG.rst CHANGELOG.rst || { diff -u CHANGELOG.rst build/CHANGELOG.rst; \
		echo "CHANGELOG.rst is out of date with changelogs/changelog.yaml: run 'make changelog'"; exit 1; }

$(IMPORTER_STAMP): $(TOOLS)
	$(PYTHON) -m venv $(IMPORTER_VENV)
	$(IMPORTER_VENV)/bin/pip install --quiet --upgrade pip
	$(IMPORTER_VENV)/bin/pip install --quiet -c $(TOOLS) galaxy-importer ansible-core
	touch $@

build-check: install $(IMPORTER_STAMP)
	PYTHONPATH=tests $(BIN)/python tests/tools/check_build.py --importer-python $(IMPORTER_VENV)/bin/python

$(BUILDER_STAMP): $(STAMP) $(TOOLS)
	$(BIN)/pip install --quiet -c $(TOOLS) ansible-builder
	touch $@

# No container runtime here: check what ansible-builder reads from the installed collection
# (meta/execution-environment.yml -> requirements.txt) and that the build context is created.
ee-check: $(BUILDER_STAMP)
	rm -rf $(EE_DIR) && mkdir -p $(EE_DIR)/dist
	$(BIN)/ansible-galaxy collection build --output-path $(EE_DIR)/dist .
	cp $(EE_DIR)/dist/ecsrds-connect-*.tar.gz $(EE_DIR)/ecsrds-connect.tar.gz
	ANSIBLE_COLLECTIONS_PATH="$(CURDIR)/$(EE_DIR)/installed" $(BIN)/ansible-galaxy collection install \
		$(EE_DIR)/ecsrds-connect.tar.gz --no-deps -p $(EE_DIR)/installed
	$(BIN)/ansible-builder introspect $(EE_DIR)/installed --write-pip $(EE_DIR)/requirements.txt
	grep -q '^boto3.*from collection ecsrds.connect' $(EE_DIR)/requirements.txt
	$(BIN)/ansible-builder create -f tests/ee/execution-environment.yml -c $(EE_DIR)/context
	test -f $(EE_DIR)/context/_build/collections/ecsrds-connect.tar.gz
	@echo "ee-check: ansible-builder create wrote $(EE_DIR)/context (build it with 'ansible-builder build' where a container runtime exists)"

# The fault tests also run in `make integration`; this runs just them and writes the report.
reliability: install
	rm -rf build/reliability
	$(BIN)/python -m pytest -q -n 2 tests/integration/test_faults.py tests/integration/test_site.py::test_bad_inputs_stop_before_any_aws_call
	$(BIN)/python tests/tools/reliability_report.py

# Not part of `make test` (5 to 17 minutes at 5 runs on the 2-core machines here; docs/BENCHMARKS.md gives the last run's); BENCH_ARGS=--quick for a one-run smoke test.
bench: install
	PYTHONPATH=tests $(BIN)/python tests/benchmark/bench.py --runs $(BENCH_RUNS) $(BENCH_ARGS)
	PYTHONPATH=tests $(BIN)/python tests/benchmark/critical_path.py

clean:
	rm -rf $(VENV) $(IMPORTER_VENV) .ansible tests/output build
