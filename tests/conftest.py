"""Suite-wide set-up: only genzoo's own plugins load, so stray installed plugins can't leak into tests."""

import os

import pytest
import torch

from zoo.plugins import builtin_config

os.environ["ZOO_LOAD_PLUGINS"] = ",".join(builtin_config().get("plugins", []))
os.environ.pop("ZOO_STRICT_PLUGINS", None)
os.environ["ZOO_CACHE_DIR"] = ""  # no listing cache: tests build registries of their own (tests/test_catalogue.py has one)
torch.set_num_threads(1)  # small ops: threads cost more than they bring, and tests run beside other work


@pytest.fixture
def fresh_registry(monkeypatch):
    """A registry rebuilt from the plugins for this test and forgotten afterwards."""
    from zoo import registry

    monkeypatch.setattr(registry, "_registry", None)
    yield registry.get_registry
    registry.reset_registry()
