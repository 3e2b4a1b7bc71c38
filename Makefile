# Everything installs into .venv at the repo root. The two commands that matter:
#   make figures   set up, then regenerate every figure on the embedded default
#   make test      set up, then run the whole test suite (CI runs this)
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
# CPU build by default; a GPU user installs their CUDA build of torch into .venv
# first (or passes TORCH="torch==X.Y.Z"), and setup keeps whatever torch is there.
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.saif-setup
PYTEST := $(PY) -m pytest

.PHONY: setup figures test test-unit test-notebooks test-fast saes bench doctor clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml requirements-nodeps.txt Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (saif .venv)" >/dev/null
	touch $(STAMP)

# From the shipped record (record/): only what it lacks is generated. FRESH=1 ignores it.
figures: setup
	$(VENV)/bin/saif figures $(if $(FRESH),--fresh)

# The notebooks run against a scratch results store filled from the shipped record and a
# scratch figures folder: their checked outputs must equal the committed ones (the analysis
# reproduces the committed figures from the record) and the committed figures are never touched.
# (expanded once, so the results and figures folders share one scratch folder)
ifndef NBVAL_TMP
NBVAL_TMP := $(shell mktemp -d -u /tmp/saif-nbval.XXXXXX)
endif
NBVAL := HF_HUB_OFFLINE=1 SAIF_RESULTS=$(NBVAL_TMP)/results SAIF_FIGURES=$(NBVAL_TMP)/figures \
	$(VENV)/bin/saif record restore && HF_HUB_OFFLINE=1 SAIF_RESULTS=$(NBVAL_TMP)/results SAIF_FIGURES=$(NBVAL_TMP)/figures \
	$(PYTEST) --nbval-lax --nbval-cell-timeout=1800 --nbval-sanitize-with notebooks/sanitize.cfg -p no:cacheprovider notebooks

# The unit tests (about 3 min), then nbval over the committed notebooks from the record.
test: setup
	$(PYTEST) tests
	$(NBVAL)

test-unit: setup
	$(PYTEST) tests

test-notebooks: setup
	$(NBVAL)

test-fast: setup
	$(PYTEST) -m "not slow" tests

doctor: setup
	$(VENV)/bin/saif doctor

# Retrain every shipped SAE from scratch, resumable after a kill. Measured on 2 CPU cores:
# about 2 h 40 min for SmolLM2 (2M-token activation cache 30 min, the 32x SAE 77 min on 2M tokens
# with other jobs sharing the CPU, held-out evaluation about 3 min per SAE)
# and 35 min for Gemma 3 270M (1M tokens then; every last layer now trains 2M). Qwen2.5-Coder, measured
# for its four 4x SAEs: activation cache at 260-370 tok/s (557,623 tokens in 48 min, time-boxed; the
# whole 1.08M-token corpus takes about 70 min), 13 min training per 4x SAE on 2M tokens, held-out
# evaluation 16 min for the first SAE and 8 min for each next one in the same run; its 8x is not timed
# yet. SAEs already shipped from the current corpus are skipped.
# The committed generations (data/saes/corpus/generated.jsonl) are part of every model's corpus and were
# made from an earlier draw of prompts (591 of their 1,100 ids are not in today's): train_saes leaves
# such a file as it is (corpus.generation_todo) and only generates when it is missing or cut short.
saes: setup
	$(PY) -m saif_core.train_saes --model smollm2-135m-instruct
	$(PY) -m saif_core.train_saes --model gemma-3-270m
	$(PY) -m saif_core.train_saes --model qwen2.5-coder-0.5b-instruct

bench: setup
	$(VENV)/bin/saif bench --json

clean-venv:
	rm -rf $(VENV)
