"""The `zoo` command: list / info / plugins output, --json for scripts, errors for people."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zoo.cli import main

FIXTURES = Path(__file__).parent / "fixtures"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_json_has_the_divergences_with_their_plugin(capsys):
    code, out, _ = run(capsys, "list", "--json")
    assert code == 0
    rows = json.loads(out)
    assert all({"kind", "name", "summary", "paper", "plugin"} <= set(r) for r in rows)
    divergences = {r["name"]: r for r in rows if r["kind"] == "divergence"}
    assert {"kl", "cross-entropy", "wasserstein-1d", "sliced-wasserstein"} <= set(divergences)
    assert divergences["kl"]["plugin"] == "zoo_divergences" and divergences["kl"]["paper"]


def test_list_filters_by_kind_and_pattern(capsys):
    _, out, _ = run(capsys, "list", "--kind", "divergence", "*wasserstein*", "--json")
    assert sorted(r["name"] for r in json.loads(out)) == ["sliced-wasserstein", "wasserstein-1d"]
    code, out, _ = run(capsys, "list", "--kind", "divergence")
    assert code == 0 and "kl" in out and "zoo_divergences" in out and "divergence" in out


def test_info_shows_arguments_defaults_and_paper(capsys):
    code, out, _ = run(capsys, "info", "kl")
    assert code == 0
    assert "num_samples" in out and "analytic" in out and "Kullback" in out
    _, out, _ = run(capsys, "info", "kl", "--json")
    info = json.loads(out)
    arguments = {a["name"]: a for a in info["arguments"]}
    assert arguments["analytic"]["default"] is True and arguments["num_samples"]["type"] == "int"


def test_info_fits_lists_the_slots_a_component_fills(capsys):
    _, out, _ = run(capsys, "info", "kl", "--json")
    assert "divergence of model vae" in json.loads(out)["fits"]
    _, out, _ = run(capsys, "info", "siren", "--json")
    assert "field of decoder field" in json.loads(out)["fits"]  # a SIREN fits inside the FieldDecoder


def test_unknown_name_is_one_clear_line_with_a_suggestion(capsys):
    code, _, err = run(capsys, "info", "kll")
    assert code == 2 and "did you mean 'kl'" in err and "Traceback" not in err
    code, _, err = run(capsys, "list", "--kind", "feild")
    assert code == 2 and "did you mean 'field'" in err


def test_plugins_lists_name_version_hooks_status(capsys):
    code, out, _ = run(capsys, "plugins", "--all", "--json")
    plugins = {p["name"]: p for p in json.loads(out)}
    assert code == 0
    assert plugins["zoo_divergences"]["hooks"] == ["register_components"]
    assert plugins["zoo_divergences"]["status"] == "ok" and plugins["zoo_divergences"]["distribution"] == "genzoo"
    _, out, _ = run(capsys, "plugins", "--json")
    assert not any(p["name"].startswith("zoo.") for p in json.loads(out))  # core modules only with --all


def test_plugins_shows_what_each_plugin_registered(capsys, monkeypatch):
    from rich.console import Console

    from zoo import cli

    _, out, _ = run(capsys, "plugins", "--json")
    registered = {p["name"]: p["registered"] for p in json.loads(out)}
    assert registered["zoo_siren"] == {"field": ["fourier-features", "relu-mlp", "relu-pe", "siren"],
                                       "model": ["signal-fit"]}
    monkeypatch.setattr(cli, "console", Console(width=250))  # one row per plugin, unwrapped
    _, out, _ = run(capsys, "plugins")
    assert "4 field, 1 model" in next(line for line in out.splitlines() if "zoo_siren" in line)
    _, out, _ = run(capsys, "plugins", "--long")
    rows = out[out.index("zoo_siren"):]
    assert "field: fourier-features, relu-mlp, relu-pe, siren" in rows and "model: signal-fit" in rows


def test_help_of_every_subcommand(capsys):
    from zoo.cli import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert {"list", "info", "plugins", "train", "resume", "eval", "sample", "render"} <= set(commands)
    for name, sub in commands.items():
        text = sub.format_help()
        assert sub.description or name in text
        for action in sub._actions:
            assert action.help or action.dest in {"help"} or action.option_strings == [], (name, action.dest)


@pytest.mark.slow
def test_third_party_plugin_appears_after_pip_install(tmp_path):
    """Install the fixture package (also the README's example) with pip and see it in `zoo list`."""
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--target", str(target), str(FIXTURES / "zoo-gabor")],
        check=True, capture_output=True,
    )
    env = {k: v for k, v in os.environ.items() if k != "ZOO_LOAD_PLUGINS"}
    env["PYTHONPATH"] = os.pathsep.join([str(target), env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, "-m", "zoo", "list", "--kind", "field", "--json"],
        check=True, capture_output=True, text=True, env=env,
    ).stdout
    gabor = {r["name"]: r for r in json.loads(out)}["gabor"]
    assert (gabor["plugin"], gabor["distribution"], gabor["version"]) == ("gabor", "zoo-gabor", "0.0.1")
    code = "import zoo, torch; f = zoo.create('field', 'gabor', out_dim=3); print(tuple(f(torch.rand(5, 2)).shape))"
    shape = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env).stdout
    assert shape.strip() == "(5, 3)"


def test_readme_plugin_example_is_the_tested_fixture():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    example = (FIXTURES / "zoo-gabor" / "zoo_gabor.py").read_text()
    assert example.strip() in readme, "README's plugin example must be tests/fixtures/zoo-gabor/zoo_gabor.py"


def test_every_argument_of_every_command_has_a_description():
    """`zoo COMMAND --help` explains each argument, positionals included, and `zoo --help` each command."""
    import argparse

    from zoo.cli import build_parser

    def undescribed(parser: argparse.ArgumentParser, prefix: str) -> list[str]:
        missing = []
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if isinstance(action, argparse._SubParsersAction):
                described = {choice.dest: choice.help for choice in action._choices_actions}
                for name, sub in action.choices.items():
                    if not (described.get(name) or "").strip():
                        missing.append(f"{prefix}{name}")
                    missing += undescribed(sub, f"{prefix}{name} ")
            elif not (action.help or "").strip():
                missing.append(f"{prefix}{'/'.join(action.option_strings) or action.dest}")
        return missing

    parser = build_parser()
    assert len(parser._subparsers._group_actions[0].choices) >= 8  # the walk reaches the commands
    assert undescribed(parser, "zoo ") == []
