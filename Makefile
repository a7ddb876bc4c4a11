# Entry points. Each target creates .venv (Python 3.11) with the exact pins when it is missing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= config/config.yaml
CORES ?= all
STAMP := $(VENV)/.installed

.PHONY: reproduce test lint bench report clean-results help

help:
	@echo "make reproduce [CONFIG=config/smoke.yaml]   run the whole study, ending in results/paper/paper.pdf"
	@echo "make test                                   unit tests + the smoke workflow"
	@echo "make lint                                   ruff, snakefmt --check, snakemake --lint"
	@echo "make report                                 snakemake --report results/report.html"

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 > /dev/null
	@touch $(STAMP)

reproduce: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --profile profiles/default --configfile $(CONFIG) --cores $(CORES)

report: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --profile profiles/default --configfile $(CONFIG) --report results/report.html

test: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/snakefmt --check Snakefile workflow/rules
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --lint --configfile config/smoke.yaml

clean-results:
	find results -mindepth 1 ! -name .gitkeep -delete
