"""examples/zoo-hellinger, the plugin guide's worked example: installed with pip like any third-party plugin, it
passes its own tests, `zoo plugins` shows what it registered, it is mixed into a shipped recipe from the
command line, and checkpoints record it and ask for it by name where it is missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
EXAMPLE = ROOT / "examples" / "zoo-hellinger"


@pytest.mark.slow
def test_example_plugin_passes_its_own_tests_when_installed(pip_installed, tmp_path):
    done = pip_installed.python("-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests"), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "8 passed" in done.stdout


@pytest.mark.slow
def test_example_plugin_is_listed_trained_recorded_and_asked_for_when_missing(pip_installed, tmp_path):
    done = pip_installed.python("-m", "zoo", "plugins", "--json", cwd=tmp_path)
    plugin = {p["name"]: p for p in json.loads(done.stdout)}["hellinger"]
    assert (plugin["distribution"], plugin["version"], plugin["status"]) == ("zoo-hellinger", "0.1.0", "ok")
    assert plugin["registered"] == {"divergence": ["hellinger"]}

    done = pip_installed.python("-m", "zoo", "train", "vae-tiny", "--set", "model.divergence=hellinger", "--steps", "2",
                                "--out", "run", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    info = json.loads(next((tmp_path / "run" / "checkpoints").glob("step_*/checkpoint.json")).read_text())
    assert {"kind": "divergence", "name": "hellinger", "plugin": "hellinger", "distribution": "zoo-hellinger",
            "version": "0.1.0"} in info["provenance"]

    done = pip_installed.python("-m", "zoo", "eval", "run", "--iwae-samples", "0", cwd=tmp_path, installed=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    message = " ".join(done.stderr.split())  # rich wraps long lines
    assert "the divergence 'hellinger' from the plugin 'hellinger' (distribution zoo-hellinger 0.1.0)" in message
    assert "pip install zoo-hellinger==0.1.0 (" in message
    assert pip_installed.python("-m", "zoo", "eval", "run", "--iwae-samples", "0", cwd=tmp_path).returncode == 0


def test_the_guide_shows_the_example_plugin_as_it_is_tested():
    guide = (ROOT / "docs" / "plugins.md").read_text()
    for path in ("zoo_hellinger/__init__.py", "pyproject.toml"):
        assert (EXAMPLE / path).read_text().strip() in guide, f"docs/plugins.md must show examples/zoo-hellinger/{path}"
