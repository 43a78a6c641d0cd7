# Two commands from a fresh clone (see README):
#   make demo   - set up, then run one reconstruction on the embedded default
#   make test   - set up with test dependencies, lint, run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

CHECKOV := .work/checkov-venv/bin/checkov
NERFSTUDIO := .work/nerfstudio-venv/bin/ns-train
SAM2 := .work/sam2-venv/.installed

VIEWER_WEB := gs_dagster/viewer/web
VIEWER_STAMP := $(VIEWER_WEB)/node_modules/.package-lock.json

.PHONY: setup viewer demo test acceptance lint ui nerfstudio sam2 grt-cpu

# checkov's own pins fight ours (boto3, packaging, networkx), so it gets a venv of its own.
$(CHECKOV):
	$(PYTHON) -m venv .work/checkov-venv
	.work/checkov-venv/bin/python -m pip install -q checkov==3.3.30

# SAM 2 and nerfstudio run in venvs of their own, called by the masks and splat stages as external programs;
# `make test` does not build them (several GB): their tests skip without them unless GS_TEST_EXTERNAL_VENVS=1.
# Both need torchvision, whose PyPI wheels are built against PyPI's torch build and do not load with a CPU-only
# torch; so these venvs take torch==2.13.0 (our pin) from PyPI, not the machine's CPU wheel: pip --isolated
# keeps a machine-wide pip config and PIP_* variables (find-links to a CPU torch, constraints) out of them.
SAM2_PIP = .work/sam2-venv/bin/python -m pip --isolated
NERFSTUDIO_PIP = .work/nerfstudio-venv/bin/python -m pip --isolated

# SAM 2 (segmentation.backgroundRemovalModel: sam2): the sam2 sdist needs torch to build, so torch first, then
# sam2 without build isolation and without its optional CUDA extension (hole filling, which we do not use).
$(SAM2): container/requirements-sam2.txt
	$(PYTHON) -m venv .work/sam2-venv
	$(SAM2_PIP) install -q -r container/requirements-sam2.txt
	SAM2_BUILD_CUDA=0 $(SAM2_PIP) install -q --no-build-isolation --no-deps sam2==1.1.0
	.work/sam2-venv/bin/python -c "import sam2.build_sam, torchvision.ops"
	touch $(SAM2)

sam2: $(SAM2)

# nerfstudio (training.model: nerfacto) pins its own stack (gsplat 1.4, opencv 4.10, timm 0.6, open3d, ...),
# so it gets a venv of its own; torch is the same 2.13.0 as ours (its pins allow it).
$(NERFSTUDIO): container/requirements-nerfstudio.txt
	$(PYTHON) -m venv .work/nerfstudio-venv
	$(NERFSTUDIO_PIP) install -q -r container/requirements-nerfstudio.txt
	touch $(NERFSTUDIO)

nerfstudio: $(NERFSTUDIO)

# NVIDIA 3DGRUT's Python code on the CPU (training.model: 3dgrt), for the adapter tests that run its own COLMAP
# reader and configs (GS_3DGRUT_PYTHON=.work/3dgrut-cpu/python): no CUDA extension, the main venv's torch. 3DGRUT
# is not on PyPI: bench/grt_prepare.sh lays its pinned source out in .peer/ from a mirror first.
GRT_CPU := .work/3dgrut-cpu/python
$(GRT_CPU): container/requirements-3dgrut-cpu.txt
	@test -d .peer/3dgrut-a37ef72 || { echo "no 3DGRUT source in .peer/3dgrut-a37ef72: run bench/grt_prepare.sh" >&2; exit 1; }
	rm -rf .work/3dgrut-cpu
	$(BIN)/python -m pip install -q --no-deps --target .work/3dgrut-cpu/site -r container/requirements-3dgrut-cpu.txt
	printf '#!/bin/sh\nPYTHONPATH=$(CURDIR)/.peer/3dgrut-a37ef72:$(CURDIR)/.work/3dgrut-cpu/site exec $(CURDIR)/$(BIN)/python "$$@"\n' > $(GRT_CPU)
	chmod +x $(GRT_CPU)

grt-cpu: $(GRT_CPU)

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
	$(BIN)/python -m pytest -q -ra -m "not acceptance" $(PYTEST_ARGS)

# The long acceptance measurements (3dgut against a pinhole control and splatfacto through a 160-degree fisheye,
# the demo's held-out PSNR from a clean clone): minutes each, so CI's `make test` leaves them out; run before a
# release or when their code changes.
acceptance: setup viewer
	$(BIN)/python -m pytest -q -ra -m acceptance $(PYTEST_ARGS)

demo: setup
	$(BIN)/python -m gs_dagster.demo $(MEDIA)

ui: setup
	$(BIN)/gs-dagster ui
