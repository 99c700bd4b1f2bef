"""Shipped weights (zoo.pretrained): each reproduces what its manifest recorded, a damaged file or a changed recipe
is refused, a recipe's name stands for a run directory, and the wheel carries them to a non-editable install."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

import zoo
from zoo import pretrained, training
from zoo.cli import main
from zoo.pretrained import PretrainedError
from zoo.recipes import load_recipe

ROOT = Path(__file__).parents[1]
SHIPPED = pretrained.available()
# float32 evaluation on another CPU or thread count sums in another order: ~1e-6 relative per reduction, a few
# reductions deep. 1e-4 is far above that and far below what another training run of the same recipe gives
# (a retrained vae-digits moves its test loss by ~1e-2 relative; random weights by orders of magnitude)
RTOL = 1e-4


def test_the_issue_recipes_ship_weights():
    expected = {"vae-digits", "ae-digits", "swae-digits", "vae-siren-digits", "gon-digits", "gon-siren-digits",
                "vgon-digits", "nerf-toy", "features-digits", "features-faces"}
    assert expected <= set(SHIPPED)
    assert all(weights.plugin == zoo.get_registry().get("recipe", name).plugin for name, weights in SHIPPED.items())


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_weights_reproduce_their_recorded_metrics(name):
    check = SHIPPED[name].check
    measured = pretrained.quick_metrics(name, max_batches=check["max_batches"])
    assert set(measured) == set(check["metrics"])
    for metric, value in check["metrics"].items():
        assert measured[metric] == pytest.approx(value, rel=RTOL, abs=1e-6), metric


def test_a_tampered_file_is_refused(tmp_path):
    weights = SHIPPED["vae-digits"]
    data = bytearray(weights.file.read_bytes())
    data[-1] ^= 1  # one bit of one weight
    (tmp_path / "vae-digits.safetensors").write_bytes(bytes(data))
    tampered = dataclasses.replace(weights, file=tmp_path / "vae-digits.safetensors")
    model = zoo.load_pretrained("vae-digits")[0]
    with pytest.raises(PretrainedError, match=r"fail their checksum.*retrain them: python benchmarks/pretrain.py"):
        pretrained.load_into(model, tampered, load_recipe("vae-digits"))


def test_a_changed_recipe_is_refused_and_a_reworded_one_is_not(tmp_path):
    weights, recipe = SHIPPED["vae-digits"], load_recipe("vae-digits")
    model = zoo.load_pretrained("vae-digits")[0]
    reworded = {**copy.deepcopy(recipe), "summary": "another summary", "paper": "another paper"}
    pretrained.load_into(model, weights, reworded)
    for path, value in (("train.steps", 10), ("model.decoder.hidden_dim", 255), ("data.threshold_binarize", True)):
        changed = copy.deepcopy(recipe)
        section, *keys = path.split(".")
        node = changed[section]
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
        with pytest.raises(PretrainedError, match="another version of the recipe.*retrain them with"):
            pretrained.load_into(model, weights, changed)


def test_the_hash_covers_defaults_so_a_changed_default_is_caught():
    recipe = load_recipe("vae-digits")
    assert "hidden_dim" not in recipe["model"]["encoder"]  # left to its default (256)
    stated = copy.deepcopy(recipe)
    stated["model"]["encoder"]["hidden_dim"] = 256
    stated["train"]["grad_clip"] = 1.0  # TrainSettings' default
    assert pretrained.recipe_hash(stated) == pretrained.recipe_hash(recipe)
    stated["model"]["encoder"]["hidden_dim"] = 128  # what the omitted one means if its default were 128
    assert pretrained.recipe_hash(stated) != pretrained.recipe_hash(recipe)


def test_a_recipe_name_stands_for_a_run_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["sample", "vae-digits", "-n", "4"]) == 0
    out, err = capsys.readouterr()
    assert "shipped with zoo_vae" in err and (tmp_path / "pretrained" / "vae-digits" / "samples.png").is_file()
    assert main(["sample", "vae-digts"]) == 2
    assert "did you mean 'vae-digits'" in capsys.readouterr().err
    assert main(["sample", "flow-mons"]) == 2  # suggested among the recipes that have weights, not flow-tiny
    assert "did you mean 'flow-moons' or 'flow-digits'?" in capsys.readouterr().err
    assert main(["eval", "vae-mnist"]) == 2
    assert "ships no trained weights; train it: zoo train vae-mnist" in capsys.readouterr().err


def test_list_marks_the_recipes_with_weights(capsys):
    assert main(["list", "--kind", "recipe", "--json"]) == 0
    marked = {row["name"]: row["pretrained"] for row in json.loads(capsys.readouterr().out)}
    assert marked["vae-digits"] and not marked["vae-mnist"]
    assert main(["list", "--kind", "recipe", "vae-*"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("vae-")}
    assert "(weights)" in lines["vae-digits"] and "(weights)" not in lines["vae-mnist"]


def test_init_pretrained_starts_from_the_shipped_weights(tmp_path):
    # lr 1e-9: Adam moves each weight by about lr in a step, so the run ends where it started
    recipe = load_recipe("vae-digits", overrides=["train.lr=1.0e-9", "train.warmup_steps=0", "train.eval_every=0"])
    run = training.train(recipe, tmp_path / "run", steps=1, quiet=True, pictures=False, init="pretrained")
    tuned, shipped = training.load(run)[0].state_dict(), zoo.load_pretrained("vae-digits")[0].state_dict()
    weights = [k for k in shipped if shipped[k].is_floating_point()]  # not the counters, which count this run's steps
    assert weights and all(torch.allclose(tuned[k], shipped[k], atol=1e-6) for k in weights)
    with pytest.raises(PretrainedError, match="do not fit this model"):
        training.train(load_recipe("vae-digits", overrides=["model.decoder.hidden_dim=32"]), tmp_path / "other",
                       steps=1, quiet=True, pictures=False, init="pretrained")


def test_the_readme_table_is_the_manifests():
    """Each row of the README's table of shipped weights shows the numbers its manifest recorded."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Trained weights, shipped", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([\w-]+)` \| ([^|]+) \| ([-\d.]+) \|", section, flags=re.M)
    assert {name for name, _, _ in rows} >= {"vae-digits", "gon-digits", "nerf-toy"}
    for name, metric, value in rows:
        recorded = SHIPPED[name].metrics[metric.strip()]
        assert float(value) == pytest.approx(recorded, abs=0.5 * 10 ** -len(value.partition(".")[2])), name


def test_the_wheel_carries_the_weights_to_a_non_editable_install(tmp_path):
    source = shutil.copytree(ROOT, tmp_path / "src", ignore=shutil.ignore_patterns(
        ".venv", ".git", "runs", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", "tests", "benchmarks",
        "docs", "examples"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "-w", str(tmp_path / "wheel"), str(source)], check=True,
                   capture_output=True)
    wheel = next((tmp_path / "wheel").glob("genzoo-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for name, weights in SHIPPED.items():
        module = next(p.module for p in zoo.get_registry().plugins if p.name == weights.plugin)
        folder = module.replace(".", "/") + "/pretrained/"
        assert {folder + f"{name}.safetensors", folder + "manifest.json"} <= names, name
    site, empty = tmp_path / "site", tmp_path / "empty"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check",
                    "--target", str(site), str(wheel)], check=True, capture_output=True)
    empty.mkdir()
    env = {k: v for k, v in __import__("os").environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(site)}
    done = subprocess.run([sys.executable, "-c", "import sys, zoo; print(zoo.__file__); from zoo.cli import main; "
                           "sys.exit(main(['sample', 'vae-digits', '-n', '16']))"], cwd=empty, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(str(site)) and (empty / "pretrained" / "vae-digits" / "samples.png").is_file()
