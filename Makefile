# Evapo: `make run` starts the product (embedded); `make test` runs the whole suite.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-unit test-integration test-e2e lint bench bench-kernel bench-fetch \
        bench-fusion bench-service bench-load bench-batch bench-asce bench-method-calibration bench-fusion-ceiling \
        services chromium calibration \
        run-distributed fake-apis clean

$(STAMP): pyproject.toml scripts/ensure-venv.sh
	@bash scripts/ensure-venv.sh
	@touch $(STAMP)

## run: install into .venv if needed and start Evapo (embedded) on http://127.0.0.1:8000
run: $(STAMP)
	$(VENV)/bin/evapo serve --host $(HOST) --port $(PORT)

## fake-apis: serve the local fake upstream APIs on port 9100 from ../shared data
fake-apis: $(STAMP)
	$(VENV)/bin/evapo fake-apis --data ../shared/data/brazil-eto-validation --port 9100

## test: install what the tests need, start local services, run the whole suite
test: $(STAMP) services chromium
	$(PY) -m pytest -p no:cacheprovider --cov=evapo --cov-report=term $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-integration: $(STAMP) services
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

test-e2e: $(STAMP) services chromium
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

services:
	@bash scripts/ensure-services.sh

chromium:
	@bash scripts/ensure-chromium.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

## bench: every benchmark (each also has its own target)
bench: bench-kernel bench-fetch bench-fusion bench-service bench-load bench-batch bench-asce

bench-kernel: $(STAMP)
	$(PY) -m bench.kernel

## bench-asce: ASCE-EWRI daily ETsz, Evapo vs refet on the 12-city series (speed, agreement)
bench-asce: $(STAMP)
	$(PY) -m bench.asce

## bench-method-calibration: grass calibration applied to FAO-56 vs ASCE short/tall (12-city LOO)
bench-method-calibration: $(STAMP)
	$(PY) -m bench.method_calibration

## bench-fusion-ceiling: fusion LOO/leave-region-out, Huber fit and per-city oracle bounds (12 cities)
bench-fusion-ceiling: $(STAMP)
	$(PY) -m bench.fusion_ceiling

bench-fetch: $(STAMP)
	$(PY) -m bench.fetch

bench-fusion: $(STAMP)
	$(PY) -m bench.fusion

bench-service: $(STAMP) services
	$(PY) -m bench.service

bench-load: $(STAMP) services
	$(PY) -m bench.load

bench-batch: $(STAMP) services
	$(PY) -m bench.batch

bench-distributed: $(STAMP) services
	$(PY) -m bench.distributed

## run-distributed: API x2, Celery workers x2 and Flower on local Redis + PostgreSQL (Ctrl-C stops)
run-distributed: $(STAMP)
	@bash scripts/run-distributed.sh

## calibration: rebuild the packaged default calibration artefact from ../shared reference data,
## and its anchors in build/anchors.npz (derived daily data: never committed nor packaged)
calibration: $(STAMP)
	$(VENV)/bin/evapo calibrate --reference ../shared/data/brazil-eto-validation \
		-o evapo/data/calibration.json --anchors build/anchors.npz

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts evapo.db*
