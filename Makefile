# Everything a user runs. `make train` and `make test` set up what is missing first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
# No NVIDIA driver: ask for the CPU build explicitly, so pip never pulls the multi-GB CUDA one.
HAS_GPU := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo 1)
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: install train test model-table lint format tensorboard clean

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

train: install  ## train the quickstart preset on the built-in scenes (CPU: < 10 min)
	$(BIN)/python -m src.train experiment=quickstart $(ARGS)

test: install  ## the whole test suite
	$(BIN)/python -m pytest -q $(ARGS)

model-table: install  ## params, GFLOPs and CPU inference img/s of UNet and UNet++ L1..L4; rewrites README's table
	$(BIN)/python -m src.model_table readme=README.md $(ARGS)

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

format: install
	$(BIN)/ruff check --fix src tests
	$(BIN)/ruff format src tests

tensorboard: install  ## the dashboard over every run
	$(BIN)/tensorboard --logdir outputs

clean:  ## remove caches (not data/ or outputs/: those hold your results)
	rm -rf .pytest_cache .ruff_cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
