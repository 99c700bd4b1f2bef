"""The README's examples run: its YAML recipes build, its `zoo` commands succeed, its Python blocks execute.

Commands run in-process through ``zoo.cli.main`` in a fresh directory, in the order the README gives them
(a block's later commands use the runs its earlier ones wrote). Trainings get a budget a test can afford,
by the rules of ``affordable``; every other word is the README's. A command that is neither ``zoo ...`` nor
in ``NOT_RUN`` fails the suite, so a new example can't go untested by accident.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

import zoo.training
from zoo.cli import main
from zoo.recipes import load_recipe

README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)

# commands the README shows but the suite does not run as written, and where they are covered instead
NOT_RUN = {
    "make": "bootstraps .venv and runs the demo or this suite itself (the Makefile is the set-up)",
    "torchrun": "several processes: tests/training/test_distributed.py trains through the same DDP path",
}


def blocks(language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(README) if lang == language]


def commands(block: str) -> list[list[str]]:
    """The commands of a bash block as argv lists: comments dropped, ``\\`` continuations joined."""
    return [argv for line in block.replace("\\\n", " ").splitlines() if (argv := shlex.split(line, comments=True))]


def affordable(argv: list[str]) -> list[str]:
    """A README command with a test's budget: the same command, smaller.

    ``zoo train`` runs 2 steps and ``zoo resume`` 3 (a step more than the run has); ``zoo eval`` draws 10
    importance samples instead of 1000; ``zoo render`` renders 32 pixels wide; the image fits train on the
    cameraman at 32x32 instead of 256x256.
    """
    command, args = argv[1], list(argv[2:])
    budget = {"train": {"--steps": "2"}, "resume": {"--steps": "3"}, "eval": {"--iwae-samples": "10"},
              "render": {"--size": "32"}}.get(command, {})
    for option, value in budget.items():
        if option in args:
            args[args.index(option) + 1] = value
        else:
            args += [option, value]
    if command == "train" and args[0].endswith("-camera"):
        args += ["--set", "data.size=32", "--set", "shape=[1, 32, 32]"]
    return [command, *args]


def recipe_files() -> dict[str, str]:
    """The YAML blocks that name their file on their first line (``# my-recipe.yaml``), by file name."""
    return {m.group(1): block for block in blocks("yaml") if (m := re.match(r"# ([\w.-]+\.yaml)", block))}


def test_every_command_is_run_or_excused():
    names = [argv[0] for block in blocks("bash") for argv in commands(block)]
    assert names and set(names) <= {"zoo", *NOT_RUN}, names
    assert blocks("python") and recipe_files().keys() >= {"my-recipe.yaml", "extra.yaml"}


@pytest.mark.parametrize("block", blocks("yaml"), ids=lambda b: b.splitlines()[0])
def test_yaml_recipes_build(block, tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text(block)
    # a full recipe stands alone; a partial one is merged over a shipped recipe, as --config does
    recipe = load_recipe(str(path)) if "model:" in path.read_text() else load_recipe("vae-digits", config=str(path))
    run = zoo.training.build(recipe, steps=2, device="cpu")
    assert run.settings.steps == 2 and len(run.train_set) > 0
    batch = run.train_set[0][None]
    assert all(term.isfinite() for term in run.model.loss(batch).values())


def zoo_blocks() -> list[list[list[str]]]:
    """The bash blocks that hold `zoo` commands, each as its commands."""
    return [argvs for block in blocks("bash") if (argvs := [a for a in commands(block) if a[0] == "zoo"])]


def _cheap(argvs: list[list[str]]) -> bool:
    return all(argv[1] in ("list", "info", "plugins") for argv in argvs)


@pytest.mark.parametrize("argvs", [b for b in zoo_blocks() if _cheap(b)],
                         ids=lambda argvs: " | ".join(" ".join(a[1:3]) for a in argvs))
def test_listing_commands_run_as_written(argvs, capsys):
    for argv in argvs:
        assert main(argv[1:]) == 0, shlex.join(argv)
        out = capsys.readouterr().out
        assert out.strip(), shlex.join(argv)


@pytest.mark.slow
@pytest.mark.parametrize("argvs", [b for b in zoo_blocks() if not _cheap(b)],
                         ids=lambda argvs: " | ".join(" ".join(a[1:3]) for a in argvs))
def test_training_commands_run_with_a_small_budget(argvs, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for name, text in recipe_files().items():
        Path(name).write_text(text)
    for argv in argvs:
        code = main(affordable(argv))
        assert code == 0, f"{shlex.join(argv)}: {capsys.readouterr().err}"
    written = {p.name for p in tmp_path.rglob("*.png")}
    assert written  # each of these blocks ends in pictures: samples, interpolations, renders


@pytest.mark.parametrize("block", [pytest.param(b, marks=[pytest.mark.slow] if "zoo.train(" in b else [],
                                                id=f"python-{i}") for i, b in enumerate(blocks("python"))])
def test_python_blocks_run_as_written(block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {"__name__": "readme_example"})
