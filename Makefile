# Quick start: `make demo` (the whole job on a local moto server) and `make test` (the whole suite).
# Both create .venv and the collection link on first use; nothing is installed outside the checkout.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
COLLECTIONS := .ansible/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/ecsrds/connect
PYTEST_WORKERS ?= auto

export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export AWS_EC2_METADATA_DISABLED := true

.PHONY: help install demo test unit integration clean

help:
	@echo "make demo   - run site.yml twice on a local moto server and show what was built"
	@echo "make test   - the whole suite (unit + integration)"
	@echo "make unit | integration"

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
	$(BIN)/python tests/demo/run_demo.py

test: unit integration

unit: install
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) tests/unit

integration: install
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) tests/integration

clean:
	rm -rf $(VENV) .ansible tests/output
