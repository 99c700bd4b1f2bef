"""`zoo new-plugin`: the package it writes passes the conformance suite as generated, installs with
`pip install -e`, shows up in `zoo list`, trains inside a shipped recipe and passes its own tests."""

from __future__ import annotations

import importlib
import json
import os
import re
import shlex
import site
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import zoo
import zoo_siren
from zoo.cli import build_parser, main
from zoo.errors import ZooError
from zoo.recipes import load_recipe
from zoo.scaffold import KINDS, new_plugin
from zoo.testing import conformance_cases, registry_with, use_registry


@pytest.mark.parametrize("kind", KINDS)
def test_generated_plugin_of_each_kind_passes_the_conformance_suite(kind, tmp_path, monkeypatch):
    root = new_plugin(f"zoo-{kind}-demo", kind=kind, parent=tmp_path)
    module_name = f"zoo_{kind}_demo"
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == sorted(
        ["README.md", "pyproject.toml", f"{module_name}/__init__.py", f"tests/test_{module_name}.py"])
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["project"]["name"] == f"zoo-{kind}-demo"
    assert project["project"]["entry-points"]["zoo"] == {f"{kind}-demo": module_name}
    test = (root / "tests" / f"test_{module_name}.py").read_text()
    assert f"test_conformance = conformance_test({module_name})" in test

    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delitem(sys.modules, module_name, raising=False)
    module = importlib.import_module(module_name)
    try:
        cases = conformance_cases(module)
        assert {case.entry.kind for case in cases} == {kind}
        for case in cases:  # a model's case trains its generated tiny recipe 2 steps
            case.run()
        # the README's "Use it" command builds: a shipped recipe with the component in its slot, by name alone
        usage = re.search(r"## Use it\n\n```bash\n(.*)\n```", (root / "README.md").read_text()).group(1)
        args = build_parser().parse_args(shlex.split(usage)[1:])
        with use_registry(registry_with(module)) as registry:
            built = zoo.training.build(load_recipe(args.recipe, overrides=args.set), device="cpu").model
            component = registry.get(kind, f"{kind}-demo").obj
        assert any(isinstance(part, component) for part in built.modules()), usage
    finally:
        sys.modules.pop(module_name, None)


def test_new_plugin_refuses_bad_names_existing_folders_and_shadowing(tmp_path):
    with pytest.raises(ZooError, match="'Zoo Demo' is not a plugin name"):
        new_plugin("Zoo Demo", parent=tmp_path)
    with pytest.raises(ZooError, match="no template for kind 'likelihood'"):
        new_plugin("zoo-demo", kind="likelihood", parent=tmp_path)
    with pytest.raises(ZooError, match="'zoo_siren' can already be imported here"):
        new_plugin("zoo-siren", parent=tmp_path)
    new_plugin("zoo-demo", parent=tmp_path)
    with pytest.raises(ZooError, match="zoo-demo already exists"):
        new_plugin("zoo-demo", parent=tmp_path)


def test_cli_new_plugin_writes_the_package_and_says_what_next(tmp_path, capsys):
    parent = tmp_path / ("a-folder-whose-name-alone-is-wider-than-the-console-" * 2)  # printed whole, to be copied
    assert main(["new-plugin", "zoo-cli-demo", "--kind", "divergence", "--dir", str(parent)]) == 0
    out = capsys.readouterr().out
    assert f"pip install -e {parent / 'zoo-cli-demo'} && pytest {parent / 'zoo-cli-demo'}" in out
    module = (parent / "zoo-cli-demo" / "zoo_cli_demo" / "__init__.py").read_text()
    assert "class CliDemoDivergence(Divergence)" in module
    assert main(["new-plugin", "zoo-cli-demo", "--dir", str(parent)]) == 2  # exists: one line, no traceback


def user_environment() -> dict[str, str]:
    """What a throwaway venv's Python needs to run this checkout with this environment's packages (torch,
    pytest, pip), every installed plugin loading, as on a user's machine."""
    paths = [Path(zoo.__file__).parents[1], Path(zoo_siren.__file__).parents[1], *site.getsitepackages()]
    env = {k: v for k, v in os.environ.items() if k not in ("ZOO_LOAD_PLUGINS", "PYTHONPATH")}
    return {**env, "PYTHONPATH": os.pathsep.join(map(str, paths))}


@pytest.mark.slow
def test_generated_field_plugin_installs_lists_trains_and_passes_its_tests(tmp_path):
    """The issue's ten-minute path: new-plugin, pip install -e, zoo list, zoo train with it, pytest."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    env = user_environment()

    def run(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([python, *args], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done

    run("-m", "zoo", "new-plugin", "zoo-demo", "--kind", "field")
    run("-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--disable-pip-version-check",
        "-e", "zoo-demo")
    listed = {r["name"]: r for r in json.loads(run("-m", "zoo", "list", "--kind", "field", "--json").stdout)}
    assert (listed["demo"]["plugin"], listed["demo"]["distribution"], listed["demo"]["version"]) == (
        "demo", "zoo-demo", "0.1.0")
    # the slot dictates the field's in_dim, out_dim and latent_dim: the user names the field, nothing more
    run("-m", "zoo", "train", "vae-siren-digits", "--set", "model.decoder.field=demo", "--set", "train.steps=5",
        "--out", "run")
    provenance = json.loads(next((tmp_path / "run" / "checkpoints").glob("step_*/checkpoint.json")).read_text())
    assert {"kind": "field", "name": "demo", "plugin": "demo", "distribution": "zoo-demo",
            "version": "0.1.0"} in provenance["provenance"]
    tests = run("-m", "pytest", "-q", "-p", "no:cacheprovider", "zoo-demo")
    assert "2 passed" in tests.stdout  # float32 and float64 on the CPU


@pytest.mark.parametrize(("name", "kind", "message"), [
    ("zoo-1abc", "field", "'zoo-1abc' makes the component '1abc', whose class name would start with a digit: start "
                          "it with a letter, e.g. zoo-x1abc"),
    ("zoo_2d", "model", "'zoo_2d' makes the component '2d', whose class name would start with a digit"),
    ("import", "field", "'import' makes the module 'import', a Python keyword, which can't be imported: choose "
                        "another name, e.g. zoo-import"),
    ("class", "divergence", "'class' makes the module 'class', a Python keyword"),
    ("zoo-mlp", "encoder", "encoder 'mlp' is registered already (by zoo_vae): the new plugin would be refused"),
    ("zoo-kl", "divergence", "divergence 'kl' is registered already (by zoo_divergences)"),
])
def test_new_plugin_refuses_names_that_make_no_valid_module_or_component(name, kind, message, tmp_path):
    with pytest.raises(ZooError, match=f"^{re.escape(message)}"):
        new_plugin(name, kind=kind, parent=tmp_path)
    assert not (tmp_path / name).exists()
    assert main(["new-plugin", name, "--kind", kind, "--dir", str(tmp_path)]) == 2  # one line, no traceback


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ["zoo-class", "zoo-for-1", "zoo_two_words", "lambda-x", "zoo-a", "plain"])
def test_the_scaffold_imports_and_registers_whatever_valid_name_it_is_given(name, kind, tmp_path, monkeypatch):
    """Keywords as a component (zoo-class), digits after the first word, no zoo- prefix: the package imports."""
    root = new_plugin(name, kind=kind, parent=tmp_path)
    module_name, component = name.replace("-", "_"), re.sub(r"^zoo[-_]", "", name)
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delitem(sys.modules, module_name, raising=False)
    try:
        module = importlib.import_module(module_name)
        registry = registry_with(module)
        assert registry.get(kind, component).plugin == module_name
        if kind == "model":
            assert registry.get("recipe", f"{component}-tiny")
    finally:
        sys.modules.pop(module_name, None)
