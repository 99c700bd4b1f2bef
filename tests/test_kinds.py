"""A plugin adds a kind of component with no edit to the core: tests/fixtures/zoo-schedules registers the kind
`noise-schedule` (interface, check), two schedules, a model that takes one by annotation, its tiny recipe and an
artifact for its own capability; listing, info, did-you-mean, recipes, training, the conformance suite and the
artifact all work for it."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from zoo.cli import main
from zoo.errors import RecipeError, UnknownComponentError
from zoo.recipes import build_model, load_recipe
from zoo.testing import ConformanceError, check_component, conformance_cases, registry_with, use_registry

FIXTURE = Path(__file__).parent / "fixtures" / "zoo-schedules"


@pytest.fixture(scope="module")
def schedules():
    """The fixture plugin's module, imported from its folder (not installed)."""
    sys.path.insert(0, str(FIXTURE))
    try:
        import zoo_schedules

        yield zoo_schedules
    finally:
        sys.path.remove(str(FIXTURE))
        sys.modules.pop("zoo_schedules", None)


@pytest.fixture
def registry(schedules):
    with use_registry(registry_with(schedules)) as registry:
        yield registry


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_kind_is_registered_with_its_interface_and_check(registry, schedules):
    kind = registry.kind("noise-schedule")
    assert (kind.interface, kind.check, kind.plugin) == (schedules.NoiseSchedule, schedules.check_schedule,
                                                          "zoo_schedules")
    assert kind.per_device and kind.sizes == ()
    assert [e.name for e in registry.list("noise-schedule")] == ["cosine", "linear"]
    assert list(registry.kinds)[-1] == "noise-schedule"  # after the core's, which come first
    assert registry.list()[-1].kind == "recipe"  # recipes are still listed last


def test_zoo_list_info_and_did_you_mean_know_the_kind(registry, capsys):
    code, out, _ = run(capsys, "list", "--kind", "noise-schedule", "--json")
    assert code == 0 and [(e["kind"], e["name"]) for e in json.loads(out)] == [
        ("noise-schedule", "cosine"), ("noise-schedule", "linear")]
    code, out, _ = run(capsys, "info", "noise-schedule")
    text = " ".join(out.split())
    assert code == 0 and "the noise-schedule contract: zoo_schedules.NoiseSchedule" in text
    assert "forward(t)" in text and "2 registered: zoo list --kind noise-schedule" in text
    _, out, _ = run(capsys, "info", "cosine", "--json")
    assert json.loads(out)["fits"] == ["schedule of model denoiser"]
    code, _, err = run(capsys, "list", "--kind", "noise-schedul")
    assert code == 2 and "did you mean 'noise-schedule'" in err
    with pytest.raises(UnknownComponentError, match="unknown noise-schedule 'cosin' — did you mean 'cosine'"):
        registry.get("noise-schedule", "cosin")
    _, out, _ = run(capsys, "plugins", "--json")
    assert {p["name"]: p["registered"] for p in json.loads(out)}["zoo_schedules"] == {
        "kind": ["noise-schedule"], "noise-schedule": ["cosine", "linear"], "model": ["denoiser"],
        "recipe": ["denoiser-tiny"], "artifact": ["schedule"]}


def test_an_argument_annotated_with_the_interface_is_built_from_the_kind(registry, schedules):
    model = build_model(load_recipe("denoiser-tiny"))
    assert isinstance(model.schedule, schedules.CosineSchedule)
    swapped = build_model(load_recipe("denoiser-tiny", overrides=["model.schedule=linear"]))
    assert isinstance(swapped.schedule, schedules.LinearSchedule)
    with pytest.raises(RecipeError, match=r"model.schedule.name: unknown noise-schedule 'siren'.*'siren' is a field"):
        load_recipe("denoiser-tiny", overrides=["model.schedule=siren"])
    with pytest.raises(RecipeError, match="model.schedule.offset: expected float"):
        load_recipe("denoiser-tiny", overrides=["model.schedule.offset=soon"])


def test_the_model_trains_two_steps_from_the_command_line(registry, tmp_path, capsys):
    code, _, err = run(capsys, "train", "denoiser-tiny", "--steps", "2", "--out", str(tmp_path / "run"),
                       "--device", "cpu")
    assert code == 0, err
    provenance = json.loads(next((tmp_path / "run" / "checkpoints").glob("step_*/checkpoint.json")).read_text())
    assert {"kind": "noise-schedule", "name": "cosine", "plugin": "zoo_schedules", "distribution": "fixture-dist",
            "version": "0.0"} in provenance["provenance"]


ALPHA_BAR = {  # the fixture's schedules with their default arguments, written out by hand
    "cosine": lambda t: max(math.cos(math.pi / 2 * (t + 0.008) / 1.008) ** 2
                            / math.cos(math.pi / 2 * 0.008 / 1.008) ** 2, 1e-5),
    "linear": lambda t: math.exp(-(0.1 * t + 0.5 * (20.0 - 0.1) * t**2)),
}


def _cells(path: Path, points: int) -> list[int]:
    """The grey level at the middle of each of the ``points`` cells of a one-row strip."""
    picture = Image.open(path).convert("L")
    return [picture.getpixel((int(picture.width * (i + 0.5) / points), picture.height // 2)) for i in range(points)]


@pytest.mark.parametrize("schedule", ["cosine", "linear"])
def test_the_plugin_s_artifact_draws_the_trained_model_s_schedule(registry, tmp_path, capsys, schedule):
    """After training, schedule.png holds ᾱ(t) at t = 0, 0.1, ..., 1 as grey levels; `zoo render --points`
    redraws it at other times, and a number of points the artifact can't draw is one line."""
    run_dir = tmp_path / "run"
    code, _, err = run(capsys, "train", "denoiser-tiny", "--steps", "2", "--out", str(run_dir), "--device", "cpu",
                       "--set", f"model.schedule={schedule}")
    assert code == 0, err
    expected = [round(255 * ALPHA_BAR[schedule](i / 10)) for i in range(11)]
    assert [abs(got - want) <= 1 for got, want in zip(_cells(run_dir / "schedule.png", 11), expected)] == [True] * 11
    code, out, err = run(capsys, "render", str(run_dir), "--points", "3", "-o", str(tmp_path / "three.png"))
    assert code == 0, err
    expected = [round(255 * ALPHA_BAR[schedule](t)) for t in (0, 0.5, 1)]
    assert [abs(got - want) <= 1 for got, want in zip(_cells(tmp_path / "three.png", 3), expected)] == [True] * 3
    code, out, err = run(capsys, "render", str(run_dir), "--points", "1")
    assert (code, out, err) == (2, "", "error: --points: expected int >= 2, got 1\n")


def test_zoo_list_and_info_show_the_plugin_s_artifact(registry, capsys):
    code, out, _ = run(capsys, "list", "--kind", "artifact", "--json")
    assert code == 0 and {(e["name"], e["plugin"]) for e in json.loads(out)} >= {("schedule", "zoo_schedules"),
                                                                                 ("curves", "zoo.pictures")}
    code, out, _ = run(capsys, "info", "schedule", "--json")
    info = json.loads(out)
    assert code == 0 and info["arguments"] == [{"name": "points", "type": "int >= 2", "default": 11,
                                                "required": False}]
    assert info["fits"] == ["zoo render", "zoo train (after training)", "models that are a Diffusion",
                            "writes schedule.png"]


def test_the_conformance_suite_runs_the_kinds_check(schedules):
    cases = {case.id: case for case in conformance_cases(schedules)}
    assert set(cases) == {f"{kind}-{name}-{dtype}-cpu" for kind, name in
                          [("noise-schedule", "cosine"), ("noise-schedule", "linear"), ("model", "denoiser")]
                          for dtype in ("float32", "float64")} | (
        {case_id.replace("cpu", "cuda") for case_id in cases} if torch.cuda.is_available() else set())
    for case in cases.values():
        case.run()


def test_the_kinds_check_fails_a_schedule_that_breaks_its_contract(registry, schedules):
    class Growing(schedules.NoiseSchedule):
        """Noise that shrinks with time (fixture)."""

        def forward(self, t):
            return 0.5 + 0.4 * t

    with pytest.raises(ConformanceError, match=r"noise-schedule 'Growing' \(float32 on cpu\): .*does not decrease"):
        check_component("noise-schedule", Growing, dtype="float32", device="cpu")


@pytest.mark.slow
def test_the_kind_works_from_an_installed_plugin(pip_installed, tmp_path):
    """pip-installed like a third-party plugin: zoo list, zoo info and zoo train see the kind."""

    def zoo(*argv: str) -> str:
        done = pip_installed.python("-m", "zoo", *argv)
        assert done.returncode == 0, done.stderr
        return done.stdout

    listed = json.loads(zoo("list", "--kind", "noise-schedule", "--json"))
    assert {(e["name"], e["distribution"], e["version"]) for e in listed} == {
        ("cosine", "zoo-schedules", "0.0.1"), ("linear", "zoo-schedules", "0.0.1")}
    assert json.loads(zoo("info", "noise-schedule", "--json"))["interface"] == "zoo_schedules.NoiseSchedule"
    zoo("train", "denoiser-tiny", "--steps", "2", "--out", str(tmp_path / "run"), "--device", "cpu")
    assert (tmp_path / "run" / "schedule.png").is_file()  # the plugin's artifact, written after training
