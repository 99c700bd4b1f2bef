"""Suite-wide set-up: only genzoo's own plugins load, so stray installed plugins can't leak into tests."""

import os

import pytest
import torch

from zoo.plugins import builtin_config

os.environ["ZOO_LOAD_PLUGINS"] = ",".join(builtin_config().get("plugins", []))
os.environ.pop("ZOO_STRICT_PLUGINS", None)
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture
def fresh_registry(monkeypatch):
    """A registry rebuilt from the plugins for this test and forgotten afterwards."""
    from zoo import registry

    monkeypatch.setattr(registry, "_registry", None)
    yield registry.get_registry
    registry.reset_registry()
