"""The `zoo` command: list / info / plugins output, --json for scripts, errors for people."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import zoo
from zoo import hookimpl
from zoo.cli import main
from zoo.errors import TrainingInterrupted
from zoo.interfaces import ImplicitField, Model, Renderer, Sampler
from zoo.recipes import load_recipe
from zoo.testing import registry_with, use_registry

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
    assert sorted(r["name"] for r in json.loads(out)) == ["sliced-wasserstein", "wasserstein", "wasserstein-1d",
                                                                "wasserstein-gaussian"]
    code, out, _ = run(capsys, "list", "--kind", "divergence", "--long")
    assert code == 0 and "kl" in out and "zoo_divergences" in out and "divergence" in out


def test_info_shows_arguments_defaults_and_paper(capsys):
    code, out, _ = run(capsys, "info", "kl")
    assert code == 0
    assert "num_samples" in out and "analytic" in out and "Kullback" in out
    _, out, _ = run(capsys, "info", "kl", "--json")
    info = json.loads(out)
    arguments = {a["name"]: a for a in info["arguments"]}
    assert arguments["analytic"]["default"] is True and arguments["num_samples"]["type"] == "int >= 1"


def test_info_fits_lists_the_slots_a_component_fills(capsys):
    _, out, _ = run(capsys, "info", "kl", "--json")
    assert "divergence of model vae" in json.loads(out)["fits"]
    _, out, _ = run(capsys, "info", "siren", "--json")
    assert "field of decoder field" in json.loads(out)["fits"]  # a SIREN fits inside the FieldDecoder


def test_info_of_a_kind_prints_the_contract_of_its_interface(capsys):
    code, out, _ = run(capsys, "info", "field")
    text = " ".join(out.split())  # rich wraps long lines
    assert code == 0 and "the field contract: zoo.interfaces.ImplicitField" in text
    assert "forward(coords, latent=None)" in text  # how a conditioned field is called, and what it must do
    assert "coordinates (b, n, in_dim) with one latent (b, latent_dim)" in text  # the docstring's markup as text
    assert "must depend on its latent from initialisation on" in text
    assert "sizes a slot dictates: in_dim, out_dim, latent_dim" in text and "zoo list --kind field" in text
    assert "decoder field" in text  # then the component that is called `field`, as before
    assert text.index("the field contract") < text.index("decoder field")

    _, out, _ = run(capsys, "info", "model", "--json")
    contract = json.loads(out)  # no component is called `model`: the contract alone
    assert (contract["kind"], contract["interface"]) == ("interface", "zoo.interfaces.Model")
    assert [m["call"] for m in contract["methods"]] == ["loss(batch)"] and contract["sizes"] == []
    models = json.loads(run(capsys, "list", "--kind", "model", "--json")[1])
    assert contract["components"] == [m["name"] for m in models] and "vae" in contract["components"]
    _, out, _ = run(capsys, "info", "encoder", "--json")
    assert json.loads(out)["sizes"] == ["shape", "latent_dim", "deterministic"]
    _, out, _ = run(capsys, "info", "field", "--kind", "decoder", "--json")
    assert json.loads(out)["kind"] == "decoder"  # --kind asks for a component: no contract


def test_info_of_a_kind_without_an_interface_describes_the_kind(capsys):
    for kind, words in (("dataset", "a torch Dataset"), ("recipe", "zoo train NAME")):
        code, out, _ = run(capsys, "info", kind)
        text = " ".join(out.split())
        assert code == 0 and f"the {kind} kind" in text and words in text and f"zoo list --kind {kind}" in text
    _, out, _ = run(capsys, "info", "dataset", "--json")
    info = json.loads(out)
    assert (info["interface"], info["plugin"]) == (None, "zoo.kinds") and "digits" in info["components"]
    _, out, _ = run(capsys, "info", "prior", "--json")
    info = json.loads(out)
    assert (info["interface"], info["sizes"]) == ("zoo.interfaces.Prior", ["latent_dim"])
    assert [m["call"] for m in info["methods"]] == ["forward()"]


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
    siren_recipes = ["fourier-camera", "hashgrid-camera", "relu-pe-camera", "signal-fit-tiny", "siren-astronaut",
                     "siren-audio", "siren-camera", "siren-poisson-camera", "siren-video",
                     "siren-video-tiny"]  # registry.yaml's, under zoo_siren
    assert registered["zoo_siren"] == {"field": ["fourier-features", "relu-mlp", "relu-pe", "siren"],
                                       "model": ["signal-fit"], "recipe": siren_recipes}
    assert registered["zoo_vdvae"]["artifact"] == ["kl-per-layer", "samples-at-temperature", "temperature-rows"]
    monkeypatch.setattr(cli, "console", Console(width=250))  # one row per plugin, unwrapped
    _, out, _ = run(capsys, "plugins")
    assert "4 field, 1 model, 10 recipe" in next(line for line in out.splitlines() if "zoo_siren" in line)
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
def test_third_party_plugin_appears_after_pip_install(pip_installed, tmp_path):
    """The fixture package (also the README's example), installed with pip, is in `zoo list`."""

    def python(*args: str) -> str:
        done = pip_installed.python(*args)
        assert done.returncode == 0, done.stderr
        return done.stdout

    gabor = {r["name"]: r for r in json.loads(python("-m", "zoo", "list", "--kind", "field", "--json"))}["gabor"]
    assert (gabor["plugin"], gabor["distribution"], gabor["version"]) == ("gabor", "zoo-gabor", "0.0.1")
    code = "import zoo, torch; f = zoo.create('field', 'gabor', out_dim=3); print(tuple(f(torch.rand(5, 2)).shape))"
    assert python("-c", code).strip() == "(5, 3)"
    # the README's next sentence: named in a shipped recipe's field slot, it takes the slot's sizes
    python("-m", "zoo", "train", "vae-siren-digits", "--set", "decoder.field=gabor", "--steps", "2",
           "--out", str(tmp_path / "run"))
    recipe = json.loads(next((tmp_path / "run" / "checkpoints").glob("step_*/checkpoint.json")).read_text())["recipe"]
    # latent_dim is the recipe's; in_dim and out_dim the field decoder gives it (2 and the likelihood's 2 numbers
    # per pixel) when it is built, so the saved recipe holds no copy of them that could go stale
    assert recipe["model"]["decoder"]["field"] == {"name": "gabor", "latent_dim": 8}


def test_readme_plugin_example_is_the_tested_fixture():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for path in ("zoo_gabor.py", "pyproject.toml"):
        example = (FIXTURES / "zoo-gabor" / path).read_text()
        assert example.strip() in readme, f"README's plugin example must be tests/fixtures/zoo-gabor/{path}"


def test_readme_plugin_example_keeps_the_field_contract(monkeypatch):
    """The README's field passes the conformance suite, conditioned on a latent and not."""
    monkeypatch.syspath_prepend(str(FIXTURES / "zoo-gabor"))
    monkeypatch.delitem(sys.modules, "zoo_gabor", raising=False)
    import zoo_gabor

    from zoo.testing import conformance_cases

    try:
        cases = conformance_cases(zoo_gabor)
        assert {(case.entry.kind, case.entry.name) for case in cases} == {("field", "gabor")}
        for case in cases:
            case.run()
    finally:
        sys.modules.pop("zoo_gabor", None)


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


# ----------------------------------------------------------------------------------------------------
# `zoo list` at 80 columns, and text from plugins printed as it is


def test_list_fits_80_columns_in_a_pipe(capsys):
    """One line per entry, cut with an ellipsis, as `make run` and CI logs show it (a pipe, COLUMNS=80)."""
    out = subprocess.run([sys.executable, "-m", "zoo", "list"], check=True, capture_output=True, text=True,
                         env={**os.environ, "COLUMNS": "80"}).stdout
    entries = json.loads(run(capsys, "list", "--json")[1])
    lines = out.rstrip("\n").splitlines()
    kinds = {e["kind"] for e in entries}
    assert max(len(line) for line in lines) <= 80
    assert len(lines) == len(entries) + 2 * len(kinds) - 1  # a title per kind, a blank line between kinds
    starts = {line.split(" ")[0] for line in lines}
    assert {e["name"] for e in entries} <= starts  # every name whole, at the start of its own line
    kl_line = next(line for line in lines if line.startswith("kl "))
    assert kl_line.endswith("…") and "Kullback-Leibler divergence KL(q ‖ p) per example" in kl_line


def test_list_shows_paper_and_plugin_when_wide_or_long(capsys, monkeypatch):
    from rich.console import Console

    from zoo import cli

    monkeypatch.setattr(cli, "console", Console(width=200))
    _, out, _ = run(capsys, "list", "--kind", "divergence")
    assert "Kullback & Leibler 1951" in out and "zoo_divergences" in out
    monkeypatch.setattr(cli, "console", Console(width=80))
    _, out, _ = run(capsys, "list", "--kind", "divergence")
    assert "zoo_divergences" not in out
    _, out, _ = run(capsys, "list", "--kind", "divergence", "--long")  # wraps instead of cutting
    assert "zoo_divergences" in out and max(map(len, out.splitlines())) <= 80


INFO_CASES = [*((kind, None) for kind in zoo.get_registry().kinds),  # contracts (and kinds without an interface)
              *((e.name, e.kind) for e in zoo.list_components() if e.kind != "recipe")]


@pytest.mark.parametrize(("name", "kind"), INFO_CASES, ids=[f"{kind or 'contract'}-{n}" for n, kind in INFO_CASES])
def test_info_fits_80_columns_with_markup_as_text_whole_words_and_the_summary_once(name, kind, capsys, monkeypatch):
    """`zoo info siren` printed its docstring at ~100 columns (a terminal broke it mid-word), raw ``markup``
    and its summary twice."""
    from rich.console import Console

    from zoo import cli

    monkeypatch.setattr(cli, "console", Console(width=80, force_terminal=False))
    code, out, _ = run(capsys, "info", name, *(["--kind", kind] if kind else []))
    assert code == 0 and max(map(len, out.splitlines())) <= 80
    assert "``" not in out and ":class:`" not in out
    info = json.loads(run(capsys, "info", name, *(["--kind", kind] if kind else []), "--json")[1])
    info = info if isinstance(info, dict) else info[0]
    words = out.split()
    assert set(cli._plain(info["doc"]).split()) <= set(words)  # wrapped at spaces only: every word whole
    if info["kind"] != "interface" and info["summary"]:
        summary = " ".join(cli._plain(info["summary"]).split())
        assert " ".join(words).count(summary) == 1


def test_prose_reflows_paragraphs_and_items_and_keeps_literal_blocks():
    from zoo.cli import _prose

    doc = ("A ``field`` of :class:`~zoo.interfaces.ImplicitField` and `x` values, a sentence long enough to be\n"
           "wrapped.\n\nArgs:\n    a: the first, which goes on\n        and on.\n    b: the second.\n\n"
           "- an item\n  continued::\n\n    y = f(x)   # kept as written\n")
    assert _prose(doc, 40).splitlines() == [
        "A field of zoo.interfaces.ImplicitField", "and x values, a sentence long enough to", "be wrapped.", "",
        "Args:", "    a: the first, which goes on and on.", "    b: the second.", "", "- an item continued:", "",
        "    y = f(x)   # kept as written"]


def test_plugins_never_cuts_a_name(capsys, monkeypatch):
    """`zoo plugins --all` cut names to `zoo_diverge…` at 80 columns; --long cut `sliced-wassers…`."""
    from rich.console import Console

    from zoo import cli

    monkeypatch.setattr(cli, "console", Console(width=80, force_terminal=False))
    plugins = json.loads(run(capsys, "plugins", "--all", "--json")[1])
    for flags in (["--all"], ["--long"]):
        _, out, _ = run(capsys, "plugins", *flags)
        assert "…" not in out and max(map(len, out.splitlines())) <= 80
        words = {word.strip(",") for word in out.split()}
        assert {p["name"] for p in plugins if "--all" in flags or not p["name"].startswith("zoo.")} <= words
    assert "sliced-wasserstein" in words  # --long: every registered name whole


class Bracketed(ImplicitField):
    """Sums -E_q[log p] and [/red] over x[i] (fixture: a summary that is not markup)."""

    def __init__(self, in_dim: int = 2, out_dim: int = 1, scale: dict[str, float] | None = None):
        super().__init__()
        self.in_dim, self.out_dim = in_dim, out_dim
        self.linear = torch.nn.Linear(in_dim, out_dim)

    def forward(self, coords, latent=None):
        return self.linear(coords)


class BracketPlugin:
    __name__ = "[bold]brackets"

    @hookimpl
    def register_components(self, register):
        register("field", "bracketed", Bracketed, paper="[i]Doe[/i] 2024, On x[n]")


class BrokenPlugin:
    __name__ = "broken-fixture"

    @hookimpl
    def register_components(self, register):
        raise RuntimeError("cannot import [/red] from [old]")


def test_text_from_plugins_is_printed_as_it_is_not_as_markup(capsys, monkeypatch):
    from rich.console import Console

    from zoo import cli

    monkeypatch.setattr(cli, "console", Console(width=250))  # no wrapping: each text in one piece
    summary = "Sums -E_q[log p] and [/red] over x[i] (fixture: a summary that is not markup)."
    with use_registry(registry_with(BracketPlugin(), BrokenPlugin())):
        code, out, err = run(capsys, "list", "--kind", "field")
        assert code == 0 and summary in out and "[i]Doe[/i] 2024, On x[n]" in out and "[bold]brackets" in out
        assert "cannot import [/red] from [old]" in " ".join(err.split())
        code, out, _ = run(capsys, "info", "bracketed")
        assert code == 0 and summary in out and "[i]Doe[/i] 2024" in out and "[bold]brackets" in out
        assert "dict[str, float] | None" in out  # argument types have brackets too
        code, out, _ = run(capsys, "plugins")
        assert code == 0 and "cannot import [/red] from [old]" in out
        _, out, _ = run(capsys, "list", "--kind", "divergence", "cross*")
        assert "-E_q[log p]" in out


def test_error_messages_are_not_markup(capsys, tmp_path):
    code, _, err = run(capsys, "train", str(tmp_path / "[old]" / "recipe.yaml"))
    assert code == 2 and f"{tmp_path}/[old]/recipe.yaml" in err and "Traceback" not in err
    code, _, err = run(capsys, "train", str(tmp_path / "[/red].yaml"))
    assert code == 2 and "[/red].yaml" in err


# ----------------------------------------------------------------------------------------------------
# Exit codes: 0 done, 2 one clear message, 130 interrupted (after saving)


class Toy(Model, Renderer, Sampler):
    """Fits a bias to the data's mean; renders a ramp; sends itself SIGINT at training call ``interrupt_at``
    (once per test: ``CTRL_C`` holds the presses left, so the resumed run goes through)."""

    def __init__(self, interrupt_at: int = 0):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.zeros(1))
        self.interrupt_at, self.calls = interrupt_at, 0

    def loss(self, batch):
        if self.training:
            self.calls += 1
            if self.calls == self.interrupt_at and CTRL_C:
                CTRL_C.pop()
                os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C does
        return {"fit": (batch.mean() - self.bias).pow(2).sum()}

    def render(self, shape, offset=0.0):
        return torch.linspace(0, 1, shape[-1]).expand(1, *shape)

    def sample(self, n):
        return torch.zeros(n, 1, 4, 6)


class Images(torch.utils.data.Dataset):
    """``n`` random 1x4x6 images (fixture)."""

    shape = (1, 4, 6)

    def __init__(self, split: str = "train"):
        self.x = torch.rand(4 if split == "train" else 2, *self.shape, generator=torch.Generator().manual_seed(0))

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i]


class ToyPlugin:
    __name__ = "cli-fixtures"

    @hookimpl
    def register_components(self, register):
        register("model", "toy", Toy)
        register("dataset", "toy-images", Images)


TOY = """\
model: {name: toy}
data: {name: toy-images}
train: {steps: 2, batch_size: 2, eval_every: 1, log_every: 1, device: cpu}
"""


@pytest.fixture
def toys(tmp_path, monkeypatch):
    """The toy plugin loaded, a recipe file `toy.yaml` and a trained run `run/` in the working directory."""
    monkeypatch.chdir(tmp_path)
    Path("toy.yaml").write_text(TOY)
    with use_registry(registry_with(ToyPlugin())):
        assert main(["train", "toy.yaml", "--out", "run"]) == 0
        yield tmp_path


@pytest.mark.parametrize("argv, message", [
    (["sample", "run", "-n", "0"], "-n: expected int >= 1, got 0"),
    (["sample", "run", "-n", "many"], "-n: expected int >= 1, got 'many' (str)"),
    (["sample", "run", "-o", "samples.jpg"], "-o/--out samples.jpg: this writes a .png file (samples.png); name "
                                             "one that ends in .png"),
    (["sample", "run", "--temperature", "0.8"], "--temperature: `zoo sample` draws a Toy with the artifact "
                                                "'samples' (for any Sampler), which takes no --temperature"),
    (["interpolate", "run"], "Toy can't interpolate: `zoo interpolate` draws a LatentModel, which it is not; "
                             "it can: sample, render"),
    (["eval", "run", "--iwae-samples", "-1"], "iwae_samples=-1"),
    (["render", "run", "--size", "0"], "--size: expected int >= 1, got 0"),
    (["render", "run", "--offset", "nan"], "--offset: expected a finite number, got 'nan'"),
    (["render", "run", "--offset", "3"], "--offset: expected float >= -1 and <= 1, got 3"),
    (["render", "run", "--size", "100000"], "a 66667x100000 render would need 24.8 GiB (6,666,700,000 numbers of 4 "
                                            "bytes), more than a quarter of this machine's"),
    (["render", "run", "--frames", "3"], "--frames: `zoo render` draws a Toy with the artifact 'image-render'"),
    (["resume", "run", "--device", "tpu"], "device='tpu'"),
    (["train", "toy.yaml", "--set", "train.lr=.inf"], "train.lr: expected a finite number, got inf"),
    (["train", "toy.yaml", "--set", "train.lr=nan"], "train.lr: expected a finite number, got 'nan'"),
    (["train", "toy.yaml", "--set", "train=5"], "train: expected the training settings as a mapping, got 5"),
    (["train", "toy.yaml", "--out", "toy.yaml"], "toy.yaml is a file"),
    (["train", "toy.yaml", "--out", "new", "--set", "train.batch_size=8"],
     "larger than the training set, which holds 4"),
])
def test_mistakes_are_one_message_and_status_2(toys, capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and message in " ".join(err.split()), err
    assert "Traceback" not in out + err and len(err.strip().splitlines()) == 1


def test_a_scalar_train_section_in_a_file_is_one_message(toys, capsys):
    Path("scalar.yaml").write_text(TOY.replace("train: {steps: 2, batch_size: 2, eval_every: 1, log_every: 1, "
                                               "device: cpu}", "train: 5"))
    code, _, err = run(capsys, "train", "scalar.yaml", "--out", "scalar")
    assert code == 2 and "train: expected the training settings as a mapping, got 5" in err


def test_a_directory_that_cannot_be_written_is_one_message(toys, capsys, monkeypatch):
    def refuse(self, *args, **kwargs):  # what mkdir does under a read-only parent (root ignores chmod, so fake it)
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    code, _, err = run(capsys, "train", "toy.yaml", "--out", "locked/run")
    assert code == 2 and "Permission denied: locked/run" in err and "Traceback" not in err


CTRL_C: list[None] = []


def test_ctrl_c_saves_and_exits_130(toys, capsys):
    CTRL_C[:] = [None, None]
    code, _, err = run(capsys, "train", "toy.yaml", "--out", "stopped", "--set", "interrupt_at=1",
                       "--set", "train.steps=5")
    assert code == 130
    assert "interrupted at step 1" in err and "zoo resume stopped" in err and "Traceback" not in err
    assert (Path("stopped") / "checkpoints" / "step_00000001").is_dir()
    # a script can tell: zoo.train raises after saving, and resume finishes the run
    with pytest.raises(TrainingInterrupted) as stopped:
        zoo.train(load_recipe("toy.yaml", overrides=["interrupt_at=2", "train.steps=5"]), "again", quiet=True)
    assert stopped.value.step == 2 and stopped.value.run_dir == Path("again")
    code, _, _ = run(capsys, "resume", "stopped", "--device", "cpu")
    assert code == 0 and (Path("stopped") / "checkpoints" / "step_00000005").is_dir()


def test_ctrl_c_outside_training_exits_130_without_a_traceback(capsys, monkeypatch):
    from zoo import cli

    def pressed():  # a second Ctrl-C during training, or one while the registry loads
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_registry", pressed)
    code, _, err = run(capsys, "list")
    assert code == 130 and err.strip() == "interrupted"


def test_resume_takes_a_device(toys, capsys):
    code, _, err = run(capsys, "resume", "run", "--device", "cpu", "--steps", "3")
    assert code == 0 and "on cpu" in err
    assert (Path("run") / "checkpoints" / "step_00000003").is_dir()


@pytest.mark.parametrize("distribution, version, expected", [
    ("zoo-imaginary", "1.2.3", "pip install zoo-imaginary==1.2.3 "),
    ("zoo-imaginary", "1!2.0", "pip install 'zoo-imaginary==1!2.0' "),  # a valid epoch, quoted for the shell
    ("zoo-imaginary", "1.0; rm -rf ~", "pip install zoo-imaginary "),  # not a version: not pinned
    ("zoo; rm -rf ~", "1.0", "no valid distribution to install ('zoo; rm -rf ~' is not a package name)"),
])
def test_the_pip_line_for_a_missing_plugin_is_safe_to_paste(capsys, tmp_path, distribution, version, expected):
    """A run directory may come from someone else: its distribution name must not become a shell command."""
    provenance = [{"kind": "field", "name": "no-such-field", "plugin": "imaginary", "distribution": distribution,
                   "version": version}]
    from zoo.training.checkpoint import save_checkpoint

    save_checkpoint(tmp_path, 1, model=torch.nn.Linear(2, 2), ema=None, keep_last=0, best=None,
                    trainer_state={"step": 1}, info={"recipe": {}, "provenance": provenance})
    code, _, err = run(capsys, "eval", str(tmp_path))
    assert code == 2 and expected in " ".join(err.split()), err
    if "==" in expected:  # what a shell hands pip is the pin itself
        assert shlex.split(expected)[2] == f"{distribution}=={version}"
