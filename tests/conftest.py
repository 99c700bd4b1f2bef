"""Suite-wide set-up: only genzoo's own plugins load, so stray installed plugins can't leak into tests; the
plugins the suite installs with pip are installed once, for every test that needs them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from zoo.plugins import builtin_config

os.environ["ZOO_LOAD_PLUGINS"] = ",".join(builtin_config().get("plugins", []))
os.environ.pop("ZOO_STRICT_PLUGINS", None)
os.environ["ZOO_CACHE_DIR"] = ""  # no listing cache: tests build registries of their own (test_catalogue.py has one)
torch.set_num_threads(1)  # small ops: threads cost more than they bring, and tests run beside other work

ROOT = Path(__file__).parents[1]
# third-party plugins as a user installs them: the README's field, a plugin that adds a kind, the guide's example
PIP_PLUGINS = [ROOT / "tests" / "fixtures" / "zoo-gabor", ROOT / "tests" / "fixtures" / "zoo-schedules",
               ROOT / "examples" / "zoo-hellinger"]


@pytest.fixture
def fresh_registry(monkeypatch):
    """A registry rebuilt from the plugins for this test and forgotten afterwards."""
    from zoo import registry

    monkeypatch.setattr(registry, "_registry", None)
    yield registry.get_registry
    registry.reset_registry()


@dataclass(frozen=True)
class Installed:
    """A folder that ``pip install --target`` filled with ``PIP_PLUGINS``, and Python run as a user who has them."""

    site: Path

    def env(self, *, installed: bool = True) -> dict[str, str]:
        """This environment with every installed plugin loading (no ``ZOO_LOAD_PLUGINS``), and the pip-installed
        ones among them when ``installed``."""
        env = {k: v for k, v in os.environ.items() if k != "ZOO_LOAD_PLUGINS"}
        env["PYTHONPATH"] = os.pathsep.join([*([str(self.site)] if installed else []), env.get("PYTHONPATH", "")])
        return env

    def python(self, *args: str, cwd: Path | None = None, installed: bool = True) -> subprocess.CompletedProcess:
        """``python ARGS`` in a new process (stdout and stderr captured as text; the caller checks the code)."""
        return subprocess.run([sys.executable, *args], cwd=cwd, env=self.env(installed=installed),
                              capture_output=True, text=True, check=False)


@pytest.fixture(scope="session")
def pip_installed(tmp_path_factory) -> Installed:
    """``PIP_PLUGINS`` installed with pip, once for the whole session, by one ``pip install --target``.

    Each is built from a copy (pip builds in the source folder; the checkout stays clean). A real install: the
    entry points a user's ``zoo`` finds are the ones pip wrote into the ``.dist-info`` folders.
    """
    sources, site = tmp_path_factory.mktemp("sources"), tmp_path_factory.mktemp("site")
    copies = [shutil.copytree(package, sources / package.name,
                              ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
              for package in PIP_PLUGINS]
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "--target", str(site), *map(str, copies)],
                   check=True, capture_output=True)
    return Installed(site)
