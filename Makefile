# Two commands from a fresh clone (see README):
#   make demo   - set up, then run one reconstruction on the embedded default
#   make test   - set up with test dependencies, lint, run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

CHECKOV := .work/checkov-venv/bin/checkov

VIEWER_WEB := gs_dagster/viewer/web
VIEWER_STAMP := $(VIEWER_WEB)/node_modules/.package-lock.json

.PHONY: setup viewer demo test lint ui

# checkov's own pins fight ours (boto3, packaging, networkx), so it gets a venv of its own.
$(CHECKOV):
	$(PYTHON) -m venv .work/checkov-venv
	.work/checkov-venv/bin/python -m pip install -q checkov==3.3.30

$(STAMP): pyproject.toml container/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch==2.13.0 (container/pyproject.toml) installs the CPU build pip finds on this machine (its find-links
	# wheels), as README's "Two commands" section says; the GPU image pins its CUDA build (container/Dockerfile).
	$(BIN)/python -m pip install -q -e "./container[engine]" -e ".[dev]"
	$(BIN)/python -c "import torch, sys; assert torch.__version__.startswith('2.13.0'), torch.__version__"
	# The compiled CPU rasterizer (g++ and OpenMP, about a minute), built now rather than in the first training.
	$(BIN)/python -m gs_stages.splat.render_cpu
	touch $(STAMP)

setup: $(STAMP)

# The renderer `gs-dagster view` serves (three.js + Spark), exactly as pinned in its package-lock.json,
# from the npm registry into the git-ignored node_modules; nothing is fetched when the viewer runs.
$(VIEWER_STAMP): $(VIEWER_WEB)/package.json $(VIEWER_WEB)/package-lock.json
	cd $(VIEWER_WEB) && npm ci --no-audit --no-fund

viewer: $(VIEWER_STAMP)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: setup viewer $(CHECKOV)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -ra $(PYTEST_ARGS)

demo: setup
	$(BIN)/python -m gs_dagster.demo $(MEDIA)

ui: setup
	$(BIN)/gs-dagster ui
