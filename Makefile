# Everything a user runs. `make train` and `make test` set up what is missing first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
# No NVIDIA driver: ask for the CPU build explicitly, so pip never pulls the multi-GB CUDA one.
HAS_GPU := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo 1)
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: install install-offline wheelhouse gpu-check smoke train compare test test-fast bench model-table docs-figures lint format tensorboard clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
ifeq ($(HAS_GPU),1)
	# No find-links: a local +cpu wheel must not satisfy the pin on a GPU machine.
	PIP_FIND_LINKS= $(BIN)/pip install "torch==$(TORCH_VERSION)"
	$(BIN)/python -c "import torch; assert torch.version.cuda, 'got a CPU-only torch on a GPU machine'"
else
	# A local +cpu wheel if pip already sees one, else the PyTorch CPU index.
	$(BIN)/pip install "torch==$(TORCH_VERSION)+cpu" || \
	  $(BIN)/pip install "torch==$(TORCH_VERSION)+cpu" --index-url $(TORCH_CPU_INDEX) --extra-index-url https://pypi.org/simple
endif
	$(BIN)/pip install -e ".[dev]"
	touch $@

# Air-gapped GPU machines: `make wheelhouse PY=3.12` where an index is reachable, carry wheelhouse/ over, then
# `make install-offline` there. It installs into $(VENV) (made with --system-site-packages from $(PYTHON), so it sees
# that interpreter's torch; or an existing env: VENV=$$CONDA_PREFIX) with no index, keeping the machine's torch.
PY ?= $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
WHEELHOUSE ?= wheelhouse
wheelhouse: install  ## every wheel but torch, for Python $(PY) on Linux (make wheelhouse PY=3.12): for install-offline
	$(BIN)/python scripts/wheelhouse.py --python-version $(PY) --dest $(WHEELHOUSE)

install-offline:  ## install from $(WHEELHOUSE)/ with no package index, using the torch this machine already has
	test -x $(BIN)/python || $(PYTHON) -m venv --system-site-packages $(VENV)
	@$(BIN)/python -c "import torch" 2>/dev/null || { echo "install-offline: $(VENV) sees no torch: remove it and run again with PYTHON=<the python that has torch>, or use VENV=<the env that has it>" >&2; exit 1; }
	$(BIN)/python -c "import torch; print('using the installed torch', torch.__version__, 'CUDA', torch.version.cuda)"
	$(BIN)/python -m pip install --no-index --find-links $(WHEELHOUSE) -e ".[dev]"
	touch $(VENV)/.installed

gpu-check: install  ## the GPU path in one command, < 5 min on one GPU: outputs/gpu_check/<date>/<time>/gpu_check.json
	$(BIN)/python -m src.gpu_check $(ARGS)

smoke: install  ## train, validate, test and every file a run writes, in ~15 s on 2 idle cores: 3 epochs of a small UNet on a small generated set
	$(BIN)/python -m src.train experiment=smoke $(ARGS)

train: install  ## train the quickstart preset on the built-in scenes (CPU: < 10 min)
	$(BIN)/python -m src.train experiment=quickstart $(ARGS)

COMPARE_DIR := outputs/compare/$(shell date +%Y-%m-%d_%H-%M-%S)
compare: install  ## UNet vs UNet++ over seeds 1,2,3 on a small train split, then the report's paired verdicts (~25 min on 2 cores)
	$(BIN)/python -m src.train -m experiment=compare model=unet,unetpp seed=1,2,3 hydra.sweep.dir=$(COMPARE_DIR) $(ARGS)
	$(BIN)/python -m src.report $(COMPARE_DIR)

test: install  ## the whole test suite
	$(BIN)/python -m pytest -q $(ARGS)

test-fast: install  ## the edit loop's subset: no end-to-end CLI runs, no SLURM jobs (pytest -m "not slow")
	$(BIN)/python -m pytest -q -m "not slow" $(ARGS)

bench: install  ## training (Lightning vs a raw loop), input pipeline and inference speed of the quickstart; benchmark.json
	$(BIN)/python -m src.benchmark experiment=quickstart $(ARGS)

model-table: install  ## params, GFLOPs and CPU inference img/s of UNet and UNet++ L1..L4; rewrites README's table
	$(BIN)/python -m src.model_table readme=README.md $(ARGS)

DOCS := outputs/docs
docs-figures: install  ## README's example images from the built-in scenes: a UNet vs UNet++ quickstart sweep, eval, predict, report, export (~25 min on 2 cores)
	$(BIN)/python -m src.train -m experiment=quickstart model=unet,unetpp hydra.sweep.dir=$(DOCS)/sweep
	$(BIN)/python -m src.eval mc_samples=20 ckpt_path=$$($(BIN)/python -c "import json; print(json.load(open('$(DOCS)/sweep/0/metrics.json'))['checkpoints']['best'])") hydra.run.dir=$(DOCS)/eval
	mkdir -p docs/images
	cp $$(ls data/synthetic/v1_seed0_train600-val100-test100_128x256/leftImg8bit/test/*/*.png | head -1) docs/images/predict_input.png
	$(BIN)/python -m src.predict ckpt_path=$(DOCS)/sweep/0/checkpoints/last.ckpt input=docs/images/predict_input.png hydra.run.dir=$(DOCS)/predict
	$(BIN)/python -m src.report $(DOCS)/sweep --out $(DOCS)/report
	$(BIN)/python -m src.export ckpt_path=$(DOCS)/sweep/0/checkpoints/last.ckpt format=onnx hydra.run.dir=$(DOCS)/export
	cp $(DOCS)/sweep/0/plots/loss.png docs/images/
	cp $$(ls $(DOCS)/sweep/0/images/val_epoch_*.png | tail -1) docs/images/val_predictions.png
	cp $(DOCS)/eval/confusion_matrix.png $(DOCS)/eval/reliability.png docs/images/
	for kind in color overlay uncertainty; do cp $(DOCS)/predict/predict_input_$$kind.png docs/images/predict_$$kind.png; done
	cp $(DOCS)/report/val_miou.png docs/images/report_val_miou.png
	cp $(DOCS)/report/predictions.png docs/images/report_predictions.png

lint: install
	$(BIN)/ruff check src tests hydra_plugins
	$(BIN)/ruff format --check src tests hydra_plugins

format: install
	$(BIN)/ruff check --fix src tests hydra_plugins
	$(BIN)/ruff format src tests hydra_plugins

tensorboard: install  ## the dashboard over every run
	$(BIN)/tensorboard --logdir outputs

clean:  ## remove caches (not data/ or outputs/: those hold your results)
	rm -rf .pytest_cache .ruff_cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
