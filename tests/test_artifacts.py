"""Artifacts: a plugin's picture and its options reach `zoo train` and `zoo sample`, the most specific artifact
wins, bad registrations disable their plugin only, sizes are refused before they are allocated, and a missing
matplotlib is said once."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import pytest
import torch
from PIL import Image
from torch import Tensor

from zoo import artifacts, hookimpl
from zoo.artifacts import NothingToDraw, Run, check_memory, choose
from zoo.cli import main
from zoo.errors import ZooError
from zoo.interfaces import Model, Renderer, Sampler
from zoo.recipes import Interval
from zoo.registry import get_registry
from zoo.testing import registry_with, use_registry


class Striped(Sampler):
    """The fixture plugin's own capability: a Sampler that draws ``count`` stripes."""

    def stripes(self, count: int, width: int) -> Tensor:
        """``(1, 8, width)``: ``count`` vertical stripes of equal width, alternately white (1) and black (0)."""
        return (torch.arange(width) * count // width % 2 == 0).float().expand(1, 8, width)


class Stripes(Model, Striped):
    """Samples grey noise; as a Striped model, `zoo sample` draws its stripes (fixture)."""

    def __init__(self):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.zeros(1))

    def loss(self, batch: Tensor) -> dict[str, Tensor]:
        return {"fit": (batch.mean() - self.bias).pow(2).sum()}

    def sample(self, n: int) -> Tensor:
        return torch.rand(n, 1, 8, 8)


def stripes(run: Run, out: Path, *, count: Annotated[int, Interval(ge=1, le=8), "how many stripes"] = 2,
            width: Annotated[int, Interval(ge=2), "picture width"] = 16) -> list[Path]:
    """Stripes as one picture (fixture)."""
    from zoo import viz

    return [viz.save_image_grid(run.model.stripes(count, width)[None], out, min_tile=0)]


def note(run: Run, out: Path) -> list[Path]:
    """Nothing to draw for this run (fixture)."""
    raise NothingToDraw("nothing here")


class Grey(torch.utils.data.Dataset):
    """Random 1x8x8 images: 4 to train on, 2 held out (fixture)."""

    shape = (1, 8, 8)

    def __init__(self, split: str = "train"):
        self.x = torch.rand(4 if split == "train" else 2, 1, 8, 8, generator=torch.Generator().manual_seed(0))

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> Tensor:
        return self.x[i]


class StripesPlugin:
    __name__ = "stripes-fixtures"

    @hookimpl
    def register_components(self, register):
        register("model", "stripes", Stripes)
        register("dataset", "grey", Grey)

    @hookimpl
    def register_artifacts(self, register):
        register("stripes", stripes, applies_to=Striped, output="stripes.png", command="sample")
        register("note", note, applies_to=Model, output="note.png")


RECIPE = "model: {name: stripes}\ndata: {name: grey}\ntrain: {steps: 1, batch_size: 2, eval_every: 1, device: cpu}\n"


@pytest.fixture
def striped(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("stripes.yaml").write_text(RECIPE)
    with use_registry(registry_with(StripesPlugin())):
        yield tmp_path


def _columns(path: Path) -> list[int]:
    picture = Image.open(path).convert("L")
    return [picture.getpixel((x, 4)) for x in range(picture.width)]


def test_register_artifacts_a_plugin_s_picture_and_option_reach_train_and_the_cli(striped, capsys):
    assert main(["train", "stripes.yaml", "--out", "run"]) == 0
    # after training: the plugin's artifact for `zoo sample` (Striped is more specific than Sampler) and not the
    # core's samples; curves.png (any Model); note has nothing to draw and is skipped without a word
    assert {p.name for p in Path("run").glob("*.png")} == {"stripes.png", "curves.png"}
    assert _columns(Path("run/stripes.png")) == [255] * 8 + [0] * 8  # 2 stripes over 16 columns
    capsys.readouterr()
    assert main(["sample", "run", "--count", "8", "--width", "8", "-o", "eight.png"]) == 0
    assert _columns(Path("eight.png")) == [255, 0] * 4
    assert main(["sample", "run", "--count", "9"]) == 2
    assert "error: --count: expected int >= 1 and <= 8, got 9" in capsys.readouterr().err
    assert main(["sample", "run", "--size", "64"]) == 2  # the core's samples take --size; stripes do not
    assert "which takes no --size; it takes --count, --width (see: zoo info stripes)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["sample", "--help"])
    assert "--count INT" in capsys.readouterr().out
    assert main(["info", "stripes"]) == 0
    out = capsys.readouterr().out
    assert "count" in out and "int >= 1 and <= 8" in out and "models that are a Striped" in out


def test_of_two_artifacts_for_the_same_command_and_class_neither_is_chosen_silently():
    class Twin:
        __name__ = "twin-fixtures"

        @hookimpl
        def register_artifacts(self, register):
            register("twin", stripes, applies_to=Striped, output="twin.png", command="sample")

    with use_registry(registry_with(StripesPlugin(), Twin())):
        with pytest.raises(ZooError, match=r"artifacts '(stripes|twin)' .* and '(stripes|twin)' .* both draw "
                                           r"`zoo sample` for a Striped"):
            choose("sample", Stripes())


def _written_wrong(run: Run, out: Path, count: int = 2) -> list[Path]:
    """Its option is not keyword-only (fixture)."""
    return []


def _no_default(run: Run, out: Path, *, count: int) -> list[Path]:
    """Its option has no default (fixture)."""
    return []


@pytest.mark.parametrize("how, says", [
    ({"write": _written_wrong, "applies_to": Sampler, "output": "x.png"}, "must be write(run, out, *, <options>)"),
    ({"write": _no_default, "applies_to": Sampler, "output": "x.png"}, "option 'count' has no default"),
    ({"write": stripes, "applies_to": "Sampler", "output": "x.png"}, "name the class of models it draws"),
    ({"write": stripes, "applies_to": Sampler, "output": "x.png", "command": "paint"},
     "command='paint': expected one of sample, interpolate, render"),
    ({"write": stripes, "applies_to": Sampler, "output": "x.png", "after_training": False}, "would never run"),
])
def test_a_bad_artifact_disables_its_plugin_only(how, says):
    class Bad:
        __name__ = "bad-artifact"

        @hookimpl
        def register_artifacts(self, register):
            register("bad", how.pop("write") if "write" in how else None, **how)

    how = dict(how)
    registry = registry_with(Bad())
    bad = next(p for p in registry.plugins if p.name == "bad-artifact")
    assert bad.status == "broken" and says in bad.error, bad.error
    assert {e.name for e in registry.list("artifact")} >= {"samples", "orbit", "samples-at-temperature"}


def test_artifacts_are_registered_by_their_owners():
    from zoo import cli

    assert tuple(cli.DRAWING) == artifacts.COMMANDS  # each command that runs an artifact is one of the CLI's
    owners = {e.name: e.plugin for e in get_registry().list("artifact")}
    assert owners == {"samples": "zoo.pictures", "reconstructions": "zoo.pictures", "interpolations": "zoo.pictures",
                      "fitted-image": "zoo.pictures", "image-render": "zoo.pictures", "curves": "zoo.pictures",
                      "fitted-video": "zoo.pictures", "video-render": "zoo.pictures",
                      "samples-at-temperature": "zoo_vdvae", "temperature-rows": "zoo_vdvae",
                      "kl-per-layer": "zoo_vdvae", "views": "zoo_nerf", "orbit": "zoo_nerf",
                      "density": "zoo_flows",
                      "mesh": "zoo.pictures", "mesh-views": "zoo.pictures",
                      "fit-over-training": "zoo_distfit"}


def test_memory_is_checked_against_a_quarter_of_the_machine(monkeypatch):
    """1 GiB of memory: a quarter is 2**28 bytes, 2**26 float32 numbers; one more is refused, with the numbers."""
    monkeypatch.setattr(artifacts, "_machine_memory", lambda: 2**30)
    check_memory(2**26, what="a picture", lower="--size")
    with pytest.raises(ZooError, match=r"^a picture would need 256.0 MiB \(67,108,865 numbers of 4 bytes\), more "
                                       r"than a quarter of this machine's 1.0 GiB of memory: lower --size$"):
        check_memory(2**26 + 1, what="a picture", lower="--size")


class Ramp(Model, Renderer):
    """Renders a ramp at any size (fixture)."""

    def __init__(self):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.zeros(1))

    def loss(self, batch: Tensor) -> dict[str, Tensor]:
        return {"fit": (batch.mean() - self.bias).pow(2).sum()}

    def render(self, shape: tuple[int, ...], offset: float = 0.0) -> Tensor:
        raise AssertionError("a render too big for memory must be refused before it is drawn")


def test_a_render_too_big_for_memory_is_refused_before_it_is_drawn(tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts, "_machine_memory", lambda: 8 * 2**30)
    run = Run(Ramp(), tmp_path, test_set=Grey())
    entry = choose("render", run.model)
    with pytest.raises(ZooError, match=r"a 4096x4096 render would need 64.0 MiB .*lower --size"):
        monkeypatch.setattr(artifacts, "_machine_memory", lambda: 2**27)  # 128 MiB: a quarter is 32 MiB
        artifacts.draw(entry, run, tmp_path / "big.png", {"size": 4096})


class Clip(torch.utils.data.Dataset):
    """One video (3, 2, 4, 6) to fit (fixture)."""

    shape = (3, 2, 4, 6)

    def __len__(self) -> int:
        return 1

    def __getitem__(self, i: int) -> Tensor:
        return torch.zeros(self.shape)


def test_an_artifact_whose_condition_holds_comes_before_the_unconditioned_one_of_its_class(tmp_path):
    """`zoo render` of a Renderer draws a picture of pictures and a video of videos; without data, the picture."""
    assert choose("render", Ramp(), Run(Ramp(), tmp_path, test_set=Grey())).name == "image-render"
    assert choose("render", Ramp(), Run(Ramp(), tmp_path, test_set=Clip())).name == "video-render"
    assert choose("render", Ramp(), Run(Ramp(), tmp_path)).name == "image-render"  # no recipe, no data to ask


def test_a_missing_matplotlib_is_said_once_with_the_install_line(striped, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # as if genzoo were installed without [plots]
    assert main(["train", "stripes.yaml", "--out", "run"]) == 0
    err = capsys.readouterr().err
    assert err.count("pip install 'genzoo[plots]'") == 1
    assert "warning: no curves.png: it needs an extra that is not installed" in err
    assert not Path("run/curves.png").exists() and Path("run/stripes.png").exists()


def _drawable() -> list[tuple[str, str]]:
    """(artifact, tiny recipe) for every registered artifact and every tiny recipe whose run it draws: the one its
    command chooses for the run, or, without a command, one it applies to."""
    from zoo.recipes import build_model, load_recipe

    registry = get_registry()
    runs = {e.name: Run(build_model(load_recipe(e.name)), ".", recipe=load_recipe(e.name))
            for e in registry.list("recipe", "*-tiny")}

    def draws(artifact, run: Run) -> bool:
        if not artifact.obj.applies(run.model, run):
            return False
        return artifact.obj.command is None or choose(artifact.obj.command, run.model, run).name == artifact.name

    return [(a.name, recipe) for a in registry.list("artifact") for recipe, run in runs.items() if draws(a, run)]


@pytest.mark.parametrize("artifact, recipe", _drawable())
def test_every_artifact_draws_every_tiny_model_it_applies_to(artifact, recipe, tmp_path):
    """With its defaults (but a coarse grid where it meshes a field), from an untrained model, as `zoo train` would:
    it writes what it says, or has nothing to draw (the curves and the KL bars of a run that has no metrics yet,
    the mesh of a field that has no level set yet)."""
    from zoo.recipes import build_model, load_recipe

    from zoo.interfaces import PosthocPrior
    from zoo.recipes import build_dataset

    loaded = load_recipe(recipe)
    entry = get_registry().get("artifact", artifact)
    run = Run(build_model(loaded), tmp_path, recipe=loaded)
    if isinstance(run.model, PosthocPrior):  # as training ends: an AE samples through a prior fitted to its codes
        codes = run.model.encode(torch.stack([item for item in build_dataset(loaded, "train")]))
        run.model.fit_prior(codes.detach())
    options = {"resolution": 24} if artifact in ("mesh", "mesh-views") else {}  # 128³ field values: seconds each
    out = entry.obj.out_path(tmp_path, options)
    try:
        written = artifacts.draw(entry, run, out, options)
    except NothingToDraw as nothing:
        assert artifact in ("curves", "kl-per-layer", "mesh", "mesh-views"), nothing
        return
    assert written and all(path.exists() for path in written) and written[0] == out
