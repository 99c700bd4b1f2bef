# Two commands do all the set-up on a fresh machine:
#   make run   - bootstrap .venv, install genzoo, list the zoo and train the main demo on embedded data
#   make test  - bootstrap .venv, install genzoo with its test extras, run the whole test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
STAMP  := $(VENV)/.genzoo-installed

# The torch/torchvision pair to try first: the one this machine's pip serves from local disk.
# Anywhere else (other Python, other platform) the bootstrap falls back to whatever pair pip resolves.
TORCH_PAIR ?= torch==2.14.1 torchvision==0.29.1

.PHONY: run test bootstrap clean

bootstrap: $(STAMP)

# Reinstall when the packaging or the set of plugin packages changes (editable installs map packages statically).
$(STAMP): pyproject.toml $(wildcard plugins/*/__init__.py)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c "import torch, torchvision" 2>/dev/null \
	  || $(PIP) install -q $(TORCH_PAIR) \
	  || $(PIP) install -q torch torchvision
	$(PIP) install -q -e '.[test]'
	@touch $@

# The demo: SIREN fits the cameraman; the run directory gets the PSNR curve, the fit and a 4x render.
RECIPE ?= siren-camera
run: $(STAMP)
	$(VENV)/bin/zoo list
	$(VENV)/bin/zoo train $(RECIPE) --out runs/$(RECIPE)-$$(date +%Y%m%d-%H%M%S)

test: $(STAMP)
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info runs
