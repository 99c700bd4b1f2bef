"""The listing cache (zoo.catalogue): `zoo list`, `zoo info` and `zoo plugins` read what the registry said, without
importing torch or any plugin, and never show what is no longer installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zoo import catalogue

PROBE = ("import sys, json\nfrom zoo.cli import main\ncode = main(sys.argv[1:])\n"
         "print(json.dumps({'torch': 'torch' in sys.modules, 'code': code}), file=sys.stderr)")


def _zoo(cache: Path, *args: str, **env: str) -> tuple[str, dict]:
    """``zoo ARGS`` in a fresh process with the cache in ``cache``: (stdout, {"torch": imported?, "code": ...})."""
    environment = {**os.environ, "ZOO_CACHE_DIR": str(cache), "COLUMNS": "100", **env}
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=environment)
    assert done.returncode == 0, done.stderr
    return done.stdout, json.loads(done.stderr.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_cached_listing_is_the_live_one_and_imports_no_torch(tmp_path):
    for args in (["list", "--json"], ["info", "siren", "--json"], ["info", "prior", "--json"],
                 ["plugins", "--all", "--json"], ["list", "--kind", "field"], ["info", "vae-digits"]):
        live, how = _zoo(tmp_path / f"off-{args[0]}", *args, ZOO_CACHE_DIR="")
        assert how["torch"]  # without the cache the listing imports every plugin
        first, how = _zoo(tmp_path, *args)
        cached, how = _zoo(tmp_path, *args)
        assert live == first == cached, args
        assert not how["torch"], args
    # a different plugin selection is another listing, not the cached one
    selected, how = _zoo(tmp_path, "list", "--json", ZOO_LOAD_PLUGINS="zoo.kinds,zoo.data,zoo_vae")
    names = {row["name"] for row in json.loads(selected)}
    assert "nerf-tiny" not in names and "ae-digits" in names and how["torch"]


@pytest.mark.slow
def test_a_typo_is_answered_from_the_cache(tmp_path):
    _zoo(tmp_path, "list")
    done = subprocess.run([sys.executable, "-m", "zoo", "info", "sirne"], capture_output=True, text=True,
                          env={**os.environ, "ZOO_CACHE_DIR": str(tmp_path)})
    assert done.returncode == 2 and "nothing is registered as 'sirne' — did you mean 'siren'" in done.stderr


def _plugin(root: Path, text: str) -> None:
    package = root / "zoo_cachetoy"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text(text)


def test_the_fingerprint_follows_a_plugins_files_and_the_selection(tmp_path, monkeypatch):
    _plugin(tmp_path, "X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(catalogue, "_builtin_modules", lambda: ["zoo_cachetoy"])
    before = catalogue.fingerprint()
    assert catalogue.fingerprint() == before  # nothing changed
    _plugin(tmp_path, "X = 22\n")  # an edited plugin (an editable install, a plugin being written)
    edited = catalogue.fingerprint()
    assert edited != before
    (tmp_path / "zoo_cachetoy" / "recipes.yaml").write_text("{}\n")  # any file of the package counts
    assert catalogue.fingerprint() != edited
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "zoo_cachetoy")
    assert catalogue.fingerprint() != edited


def test_a_damaged_or_stale_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path))
    builds = []

    def build():
        builds.append(1)
        return {"n": len(builds)}

    assert catalogue.cached(build) == {"n": 1}
    assert catalogue.cached(build) == {"n": 1} and len(builds) == 1  # from the cache
    (tmp_path / "catalogue.json").write_bytes(b"\xff not json")
    assert catalogue.cached(build) == {"n": 2}  # damaged: rebuilt, and stored again
    assert catalogue.cached(build) == {"n": 2}
    monkeypatch.setattr(catalogue, "fingerprint", lambda: "something else is installed now")
    assert catalogue.cached(build) == {"n": 3}  # stale: never shown
    monkeypatch.setenv("ZOO_CACHE_DIR", "")
    assert catalogue.cached(build) == {"n": 4} and catalogue.cached(build) == {"n": 5}  # off


def test_a_cache_that_cannot_be_written_costs_only_speed(tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv("ZOO_CACHE_DIR", str(blocked / "genzoo"))
    assert catalogue.cached(lambda: {"ok": True}) == {"ok": True}
    assert not list(tmp_path.glob("**/*.tmp"))
