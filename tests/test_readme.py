"""The README's and the plugin guide's examples run: YAML recipes build, `zoo` commands succeed, Python executes.

Commands run in-process through ``zoo.cli.main`` in a fresh directory, in the order a document gives them
(a block's later commands use the runs its earlier ones wrote). Trainings get a budget a test can afford,
by the rules of ``affordable``; every other word is the document's. The README's trainings get enough
steps to show that they learn, and must. A command that is neither ``zoo ...``
nor excused in ``NOT_RUN`` fails the suite, so a new example can't go untested by accident.

The guide's examples use the plugins it installs: its ``zoo new-plugin`` and ``pip install`` commands are
its set-up, which the ``installed`` fixture performs once (``pip`` itself is not run here; the tests
named in ``NOT_RUN`` install with it), and its other blocks run with those plugins loaded.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import re
import shlex
import sys
import tomllib
from pathlib import Path

import pytest

import zoo.training
from zoo.cli import main
from zoo.recipes import load_recipe
from zoo.testing import registry_with, use_registry

ROOT = Path(__file__).parents[1]
README, GUIDE = "README.md", "docs/plugins.md"
TEXT = {doc: (ROOT / doc).read_text(encoding="utf-8") for doc in (README, GUIDE)}
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)

# commands a document shows but the suite does not run as written, and where they are covered instead
NOT_RUN = {
    README: {
        "make": "bootstraps .venv and runs the demo or this suite itself (the Makefile is the set-up)",
        "torchrun": "several processes: tests/training/test_distributed.py trains through the same DDP path",
    },
    GUIDE: {
        "pip": "the `installed` fixture imports what it names; tests/test_scaffold.py and tests/test_examples.py "
               "pip-install a generated plugin and examples/zoo-hellinger for real",
        "pytest": "tests/test_scaffold.py and tests/test_examples.py run a plugin's tests after pip install; "
                  "tests/test_conformance.py runs pytest --zoo-conformance[=PLUGIN]",
    },
}


def blocks(doc: str, language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(TEXT[doc]) if lang == language]


def commands(block: str) -> list[list[str]]:
    """The commands of a bash block as argv lists: comments dropped, ``\\`` continuations joined."""
    return [argv for line in block.replace("\\\n", " ").splitlines() if (argv := shlex.split(line, comments=True))]


def is_setup(argv: list[str]) -> bool:
    """A command that installs what a document's other commands use: ``zoo new-plugin``, ``pip install``."""
    return argv[:2] in (["zoo", "new-plugin"], ["pip", "install"])


def affordable(argv: list[str], steps: int = 2) -> list[str]:
    """A documented command with a test's budget: the same command, smaller.

    ``zoo train`` runs ``steps`` steps, logged four times, and ``zoo resume`` a step more than the run has;
    ``zoo eval`` draws 10 importance samples instead of 1000; ``zoo render`` renders 32 pixels wide and ``zoo
    export`` meshes on a 32³ grid; the image fits train on the cameraman at 32x32 instead of 256x256, the
    signed distance fits on 4,000 points instead of 100,000.
    """
    command, args = argv[1], list(argv[2:])
    budget = {"train": {"--steps": str(steps)}, "resume": {"--steps": str(steps + 1)},
              "eval": {"--iwae-samples": "10"}, "render": {"--size": "32"},
              "export": {"--resolution": "32"}}.get(command, {})
    for option, value in budget.items():
        if option in args:
            args[args.index(option) + 1] = value
        else:
            args += [option, value]
    if command == "train":
        args += ["--set", f"train.log_every={max(1, steps // 4)}"]
        if args[0].endswith("-camera"):
            args += ["--set", "data.size=32"]  # the model reads its shape from the data
        if args[0].startswith("sdf-"):  # fewer points, and the geometry metrics on a coarse mesh
            args += ["--set", "data.num_points=4000", "--set", "model.points_per_step=512",
                     "--set", "model.metrics_resolution=32", "--set", "model.metrics_points=2000"]
    return [command, *args]


LEARNING_STEPS = 100  # the README's trainings, each long enough to see it learn
LEARNED = 0.1  # what learning means there: the loss falls by a tenth of its first logged value


def recipe_files(doc: str) -> dict[str, str]:
    """The YAML blocks that name their file on their first line (``# my-recipe.yaml``), by file name."""
    return {m.group(1): block for block in blocks(doc, "yaml") if (m := re.match(r"# ([\w.-]+\.yaml)", block))}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """``plugins(doc)``: a context in which the plugins ``doc`` installs are loaded.

    The guide's ``zoo new-plugin`` commands run in a fresh folder; each ``pip install [-e] PATH`` imports
    the modules that PATH's pyproject.toml declares in the entry-point group ``zoo`` (PATH is looked for in
    that folder, then in the checkout: examples/zoo-hellinger), as the installed plugin would be loaded.
    """
    folder, modules, paths = tmp_path_factory.mktemp("installed"), [], []
    for argv in (argv for block in blocks(GUIDE, "bash") for argv in commands(block) if is_setup(argv)):
        if argv[0] == "zoo":
            assert main([*argv[1:], "--dir", str(folder)]) == 0, shlex.join(argv)
            continue
        package = next(path for base in (folder, ROOT) if (path := base / argv[-1]).is_dir())
        project = tomllib.loads((package / "pyproject.toml").read_text())
        paths.append(str(package))
        sys.path.insert(0, str(package))
        modules += [importlib.import_module(name) for name in project["project"]["entry-points"]["zoo"].values()]
    registry = registry_with(*modules)
    try:
        yield lambda doc: use_registry(registry) if doc == GUIDE else contextlib.nullcontext()
    finally:
        for path in paths:
            sys.path.remove(path)
        for module in modules:
            sys.modules.pop(module.__name__, None)


@pytest.mark.parametrize("doc", [README, GUIDE])
def test_every_command_is_run_or_excused(doc):
    argvs = [argv for block in blocks(doc, "bash") for argv in commands(block)]
    assert argvs and {argv[0] for argv in argvs} <= {"zoo", *NOT_RUN[doc]}, argvs
    named = {word for argv in argvs if argv[0] == "zoo" for word in argv if word.endswith(".yaml")}
    assert named <= recipe_files(doc).keys(), f"{doc} trains recipe files it does not show"
    assert blocks(doc, "python")


@pytest.mark.parametrize("doc, block", [(doc, b) for doc in (README, GUIDE) for b in blocks(doc, "yaml")],
                         ids=lambda value: value.splitlines()[0])
def test_yaml_recipes_build(doc, block, tmp_path, installed):
    path = tmp_path / "recipe.yaml"
    path.write_text(block)
    with installed(doc):
        # a full recipe stands alone; a partial one is merged over a shipped recipe, as --config does
        recipe = load_recipe(str(path)) if "model:" in block else load_recipe("vae-digits", config=str(path))
        run = zoo.training.build(recipe, steps=2, device="cpu")
    assert run.settings.steps == 2 and len(run.train_set) > 0
    batch = run.train_set[0][None]
    assert all(term.isfinite() for term in run.model.loss(batch).values())


def zoo_blocks(doc: str) -> list[list[list[str]]]:
    """The bash blocks that hold `zoo` commands other than set-up, each as those commands."""
    return [argvs for block in blocks(doc, "bash")
            if (argvs := [a for a in commands(block) if a[0] == "zoo" and not is_setup(a)])]


def _cheap(argvs: list[list[str]]) -> bool:
    return all(argv[1] in ("list", "info", "plugins") for argv in argvs)


def _id(value) -> str:
    return value if isinstance(value, str) else " | ".join(" ".join(a[1:3]) for a in value)


@pytest.mark.parametrize("doc, argvs", [(doc, b) for doc in (README, GUIDE) for b in zoo_blocks(doc) if _cheap(b)],
                         ids=_id)
def test_listing_commands_run_as_written(doc, argvs, capsys, installed):
    with installed(doc):
        for argv in argvs:
            assert main(argv[1:]) == 0, shlex.join(argv)
            out = capsys.readouterr().out
            assert out.strip(), shlex.join(argv)


def logged_losses(run: Path) -> list[float]:
    """The training loss at each logged step of a run (each the mean over the steps since the last log)."""
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [line["metrics"]["loss"] for line in lines if line["split"] == "train"]


@pytest.mark.slow
@pytest.mark.parametrize("doc, argvs",
                         [(doc, b) for doc in (README, GUIDE) for b in zoo_blocks(doc) if not _cheap(b)], ids=_id)
def test_training_commands_run_with_a_small_budget(doc, argvs, tmp_path, monkeypatch, capsys, installed):
    """The README's trainings learn, each at the same small budget: the loss logged at the last of four log
    steps is clearly below the first (a decoder stuck on flat grey squares, which only learns the mean, is
    there by the first log step and stays); the guide's trainings run two steps."""
    monkeypatch.chdir(tmp_path)
    for name, text in recipe_files(doc).items():
        Path(name).write_text(text)
    steps = LEARNING_STEPS if doc == README else 2
    with installed(doc):
        for argv in argvs:
            before = {path: path.stat().st_mtime_ns for path in tmp_path.rglob("metrics.jsonl")}
            code = main(affordable(argv, steps))
            assert code == 0, f"{shlex.join(argv)}: {capsys.readouterr().err}"
            if argv[1] != "train" or doc != README:
                continue
            [run] = [path.parent for path in tmp_path.rglob("metrics.jsonl")
                     if before.get(path) != path.stat().st_mtime_ns]
            losses = logged_losses(run)
            assert len(losses) == 4 and losses[0] - losses[-1] > LEARNED * abs(losses[0]), (
                f"{shlex.join(argv)} does not learn in {steps} steps: its loss went {losses}")
    written = {p.name for p in tmp_path.rglob("*.png")}
    assert written  # each of these blocks ends in pictures: samples, interpolations, renders


@pytest.mark.parametrize("doc, block", [
    pytest.param(doc, b, marks=[pytest.mark.slow] if "zoo.train(" in b else [], id=f"{doc}-python-{i}")
    for doc in (README, GUIDE) for i, b in enumerate(blocks(doc, "python"))])
def test_python_blocks_run_as_written(doc, block, tmp_path, monkeypatch, installed):
    monkeypatch.chdir(tmp_path)
    with installed(doc):
        exec(compile(block, doc, "exec"), {"__name__": "doc_example"})
