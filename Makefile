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

# The demo, under a minute on a 2-core CPU: a SIREN inside a Gradient Origin Network (two papers' components
# mixed by a recipe) learns 8x8 digits and decodes them at 32x32 (reconstructions-4x.png), samples and
# interpolates. `make run RECIPE=siren-camera` fits the cameraman with SIREN instead (about 3 minutes).
RECIPE ?= gon-siren-digits
run: $(STAMP)
	$(VENV)/bin/zoo list
	@out=runs/$(RECIPE)-$$(date +%Y%m%d-%H%M%S); $(VENV)/bin/zoo train $(RECIPE) --out $$out \
	  && echo "pictures: $$out/*.png"

# One worker per core (pytest-xdist): the suite is mostly single-threaded training and subprocesses.
test: $(STAMP)
	$(PY) -m pytest -q -n auto

clean:
	rm -rf $(VENV) build *.egg-info runs
