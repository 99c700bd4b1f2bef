"""What ``fit`` does to the weights, checked against hand-written references and identities."""

from __future__ import annotations

import json
import os
import signal
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from train_toys import Denoiser, make_denoiser, toy_data

from zoo.errors import RecipeError, TrainingAborted, ZooError
from zoo.interfaces import BeforeUpdate
from zoo.training import TrainSettings, fit, learning_rate
from zoo.training.checkpoint import check_intact, list_checkpoints, load_trainer_state
from zoo.training.loop import STOP_SIGNALS, make_optimizer
from zoo.training.runtime import thread_count

ORIGINAL_HANDLERS = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}


def quick(**overrides) -> TrainSettings:
    base = {"steps": 6, "batch_size": 8, "lr": 1e-2, "eval_every": 0, "checkpoint_every": 0, "log_every": 1,
            "device": "cpu"}
    return TrainSettings(**{**base, **overrides})


def records(run_dir: Path, split: str = "train") -> list[dict]:
    lines = (Path(run_dir) / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["split"] == split]


def weights_at(run_dir: Path) -> dict[int, dict[str, torch.Tensor]]:
    """{step: model weights} of every checkpoint of a run."""
    return {int(p.name[5:]): load_file(p / "model.safetensors") for p in list_checkpoints(run_dir)}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_training_lowers_the_held_out_loss(tmp_path):
    model = make_denoiser(noise=0.0)
    result = fit(model, toy_data(), toy_data(16, seed=1), quick(steps=60, eval_every=60), tmp_path, quiet=True)
    assert result.step == 60 and result.skipped == 0
    untrained = make_denoiser(noise=0.0).eval()
    before = sum(untrained.loss(toy_data(16, seed=1).x).values()).item()
    assert result.eval_metrics["loss"] < 0.2 * before


def test_fit_takes_the_same_steps_as_a_hand_written_adamw_loop_with_clipping(tmp_path):
    """One batch = the whole dataset (in a new order each step), so the reference needs no sampler."""
    data = toy_data(16)
    settings = quick(steps=4, batch_size=16, lr=0.05, warmup_steps=1, grad_clip=0.05, weight_decay=0.1)
    model = make_denoiser(noise=0.0)
    fit(model, data, None, settings, tmp_path, quiet=True)

    def reference(clip: bool) -> dict[str, torch.Tensor]:
        ref = make_denoiser(noise=0.0)
        optimizer = make_optimizer(ref, settings, torch.device("cpu"))
        for step in range(settings.steps):
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, settings)
            sum(ref.loss(data.x).values()).backward()
            if clip:
                norm = torch.cat([p.grad.flatten() for p in ref.parameters()]).norm()
                for p in ref.parameters():
                    p.grad *= min(1.0, settings.grad_clip / (norm.item() + 1e-6))
            optimizer.step()
            optimizer.zero_grad()
        return ref.state_dict()

    trained = model.state_dict()
    clipped, unclipped = reference(clip=True), reference(clip=False)
    for name in trained:  # equal up to the order of the float sums over a reshuffled batch
        torch.testing.assert_close(trained[name], clipped[name], rtol=1e-5, atol=1e-6)
    assert not all(torch.allclose(trained[n], unclipped[n], atol=1e-4) for n in trained)  # clipping mattered
    assert all(r["grad_norm"] > settings.grad_clip for r in records(tmp_path))


def test_accumulation_splits_the_batch_without_changing_the_update(tmp_path):
    data = toy_data(32)
    whole, split = make_denoiser(noise=0.0), make_denoiser(noise=0.0)
    fit(whole, data, None, quick(batch_size=8), tmp_path / "whole", quiet=True)
    fit(split, data, None, quick(batch_size=8, accumulate=4), tmp_path / "split", quiet=True)
    for (name, a), b in zip(whole.state_dict().items(), split.state_dict().values()):
        # mean of 4 micro-batch means == batch mean, up to float summation order
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
    assert records(tmp_path / "whole")[-1]["metrics"]["loss"] == pytest.approx(
        records(tmp_path / "split")[-1]["metrics"]["loss"], rel=1e-5)


def test_a_nan_loss_skips_that_update_and_counts_it(tmp_path):
    settings = quick(steps=5, checkpoint_every=1, keep_last=0, ema=0.5)
    result = fit(make_denoiser(nan_at=3), toy_data(), None, settings, tmp_path, quiet=True)
    weights = weights_at(tmp_path)
    assert same(weights[2], weights[3])  # step 3's update was skipped: weights as after step 2
    assert not same(weights[3], weights[4])  # and training went on afterwards
    ema = {k: load_file(tmp_path / f"checkpoints/step_{k:08d}/ema.safetensors") for k in (2, 3)}
    assert same(ema[2], ema[3])
    optimizer = {k: load_trainer_state(tmp_path / f"checkpoints/step_{k:08d}")["optimizer"]["state"] for k in (2, 3)}
    assert all(torch.equal(optimizer[2][i]["exp_avg"], optimizer[3][i]["exp_avg"]) for i in optimizer[2])
    assert result.skipped == 1
    assert [r["skipped"] for r in records(tmp_path)] == [0, 0, 1, 1, 1]
    assert all(torch.isfinite(w).all() for step in weights.values() for w in step.values())


def test_updates_above_the_skip_threshold_are_skipped(tmp_path):
    model = make_denoiser()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = fit(model, toy_data(), None, quick(skip_threshold=1e-9), tmp_path / "all", quiet=True)
    assert result.skipped == 6 and same(before, model.state_dict())
    result = fit(make_denoiser(), toy_data(), None, quick(skip_threshold=1e9), tmp_path / "none", quiet=True)
    assert result.skipped == 0


def test_ema_follows_the_weights_by_its_recurrence(tmp_path):
    decay = 0.8
    model = make_denoiser()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    fit(model, toy_data(), None, quick(steps=4, ema=decay, checkpoint_every=1, keep_last=0), tmp_path, quiet=True)
    weights = weights_at(tmp_path)
    expected = initial  # ema_0 = w_0; ema_k = decay * ema_{k-1} + (1 - decay) * w_k
    for step in range(1, 5):
        expected = {k: decay * expected[k] + (1 - decay) * weights[step][k] for k in expected}
        ema = load_file(tmp_path / f"checkpoints/step_{step:08d}/ema.safetensors")
        for k in expected:
            torch.testing.assert_close(ema[k], expected[k], rtol=1e-6, atol=1e-7)


def test_ema_carries_the_models_buffers(tmp_path):
    # BatchNorm's running statistics are buffers: not averaged, but the EMA model evaluates with them
    steps = 4
    model = make_denoiser(batch_norm=True)
    result = fit(model, toy_data(), None, quick(steps=steps, ema=0.8), tmp_path, quiet=True)
    buffers = dict(model.named_buffers())
    assert set(buffers) == {"net.1.running_mean", "net.1.running_var", "net.1.num_batches_tracked"}
    assert buffers["net.1.num_batches_tracked"].item() == steps  # one training batch per update
    assert buffers["net.1.running_mean"].abs().min() > 0  # moved from its initial zeros
    assert result.eval_model is not model
    ema = dict(result.eval_model.named_buffers())
    assert [name for name in buffers if not torch.equal(ema[name], buffers[name])] == []
    saved = load_file(tmp_path / f"checkpoints/step_{steps:08d}/ema.safetensors")
    assert [name for name in buffers if not torch.equal(saved[name], buffers[name])] == []


def test_same_seed_same_run_other_seed_other_run(tmp_path):
    runs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        model = make_denoiser()  # same initial weights: only the training seed (noise, data order) varies
        fit(model, toy_data(), None, quick(seed=seed), tmp_path / name, quiet=True)
        runs[name] = model.state_dict()
    assert same(runs["a"], runs["b"])
    assert not same(runs["a"], runs["c"])


def test_metrics_log_has_train_and_eval_records(tmp_path):
    settings = quick(steps=6, log_every=2, eval_every=3, lr=1e-3, warmup_steps=2)
    fit(make_denoiser(), toy_data(), toy_data(16, seed=1), settings, tmp_path, quiet=True)
    train, evals = records(tmp_path), records(tmp_path, "eval")
    assert [r["step"] for r in train] == [2, 4, 6]
    assert [r["step"] for r in evals] == [3, 6]
    assert set(train[0]["metrics"]) == {"recon", "weights", "loss"} == set(evals[0]["metrics"])
    for r in train:  # the lr used by the last step of each logged stretch
        assert r["lr"] == pytest.approx(learning_rate(r["step"] - 1, settings))
        assert r["metrics"]["loss"] == pytest.approx(r["metrics"]["recon"] + r["metrics"]["weights"])
    assert not (tmp_path / "curves.png").exists()  # an artifact, drawn after training (tests/test_artifacts.py)


@pytest.mark.parametrize("stop", STOP_SIGNALS, ids=lambda s: s.name)
def test_a_stop_signal_saves_a_checkpoint_and_the_run_resumes_exactly(tmp_path, capsys, stop):
    """Ctrl-C (SIGINT), SIGTERM and SIGHUP alike: the update in progress is finished, saved, and named."""
    interrupted = fit(make_denoiser(interrupt_at=4, interrupt_with=stop), toy_data(), None, quick(steps=10),
                      tmp_path / "run")
    assert interrupted.interrupted and interrupted.stopped_by == stop and interrupted.step == 4
    assert [p.name for p in list_checkpoints(tmp_path / "run")] == ["step_00000004"]
    said = [line for line in capsys.readouterr().err.splitlines() if "interrupted" in line]
    assert said == [(f"interrupted at step 4 by {stop.name}: checkpoint step_00000004 saved; continue with "
                     f"`zoo resume {tmp_path / 'run'}`")]
    assert signal.getsignal(stop) is ORIGINAL_HANDLERS[stop]  # fit put the handlers back
    resumed, straight = make_denoiser(seed=3), make_denoiser()
    fit(resumed, toy_data(), None, quick(steps=10), tmp_path / "run", resume=True, quiet=True)
    fit(straight, toy_data(), None, quick(steps=10), tmp_path / "straight", quiet=True)
    assert same(resumed.state_dict(), straight.state_dict())


def test_a_second_signal_while_saving_aborts_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    real_save = torch.save

    def second_sigterm(obj, f, *args, **kwargs):  # the save that the first signal started
        if "step_00000004" in str(f):
            os.kill(os.getpid(), signal.SIGTERM)
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", second_sigterm)
    settings = quick(steps=10, checkpoint_every=2)
    with pytest.raises(TrainingAborted, match="SIGTERM again while stopping: aborted at once") as aborted:
        fit(make_denoiser(interrupt_at=4, interrupt_with=signal.SIGTERM), toy_data(), None, settings,
            tmp_path / "run", quiet=True)
    monkeypatch.undo()
    assert aborted.value.signal == signal.SIGTERM and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert [p.name for p in list_checkpoints(tmp_path / "run")] == ["step_00000002"]
    check_intact(tmp_path / "run" / "checkpoints" / "step_00000002")
    assert not list((tmp_path / "run" / "checkpoints").glob(".tmp-*"))  # the abandoned write left nothing
    resumed, straight = make_denoiser(seed=3), make_denoiser()
    fit(resumed, toy_data(), None, settings, tmp_path / "run", resume=True, quiet=True)
    fit(straight, toy_data(), None, settings, tmp_path / "straight", quiet=True)
    assert same(resumed.state_dict(), straight.state_dict())


def test_progress_lines_and_summary_on_a_console(tmp_path, capsys):
    fit(make_denoiser(), toy_data(), toy_data(16, seed=1), quick(steps=4, log_every=2, eval_every=4), tmp_path)
    err = capsys.readouterr().err
    assert "step 2/4" in err and "step 4/4" in err and "items/s" in err
    assert "eval @ step 4" in err and "skipped updates" in err and "best" in err


def test_records_go_to_tensorboard_when_it_is_installed(tmp_path, monkeypatch):
    scalars = []

    class Writer:  # stands in for torch.utils.tensorboard.SummaryWriter (tensorboard is optional)
        def add_scalar(self, tag, value, step):
            scalars.append((tag, step))

        def close(self):
            scalars.append("closed")

    monkeypatch.setattr("zoo.training.report._tensorboard_writer", lambda run_dir: Writer())
    fit(make_denoiser(), toy_data(), toy_data(16, seed=1), quick(steps=2, log_every=2, eval_every=2), tmp_path,
        quiet=True)
    assert ("train/loss", 2) in scalars and ("train/recon", 2) in scalars and ("eval/loss", 2) in scalars
    assert scalars[-1] == "closed"


def test_progress_bar_on_a_terminal(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich treats the captured stream as a terminal
    monkeypatch.setenv("COLUMNS", "80")
    fit(make_denoiser(), toy_data(), None, quick(steps=4, log_every=2), tmp_path)
    err = capsys.readouterr().err
    assert "4/4" in err and "ETA" in err and "items/s" in err and "recon" in err


def test_loss_terms_must_be_scalars(tmp_path):
    model = make_denoiser()
    model.loss = lambda batch: {"recon": (batch**2).mean(dim=1)}
    with pytest.raises(ZooError, match="term 'recon' of shape"):
        fit(model, toy_data(), None, quick(), tmp_path, quiet=True)


@pytest.mark.slow
def test_compiled_loss_trains_like_eager(tmp_path):
    eager, compiled = make_denoiser(noise=0.0), make_denoiser(noise=0.0)
    fit(eager, toy_data(), None, quick(steps=3), tmp_path / "eager", quiet=True)
    fit(compiled, toy_data(), None, quick(steps=3, compile=True), tmp_path / "compiled", quiet=True)
    for name, value in eager.state_dict().items():
        torch.testing.assert_close(compiled.state_dict()[name], value, rtol=1e-4, atol=1e-5)


class DivergesAfter(type(make_denoiser())):
    """The toy denoiser whose loss turns NaN from its ``start``-th training call on: a diverged run."""

    def __init__(self, start: int):
        super().__init__(noise=0.0)
        self.start = start

    def loss(self, batch):
        terms = super().loss(batch)
        if self.training and self.calls >= self.start:
            terms["recon"] = terms["recon"] * float("nan")
        return terms


def test_a_storm_of_skipped_updates_stops_the_run_and_keeps_the_last_good_weights(tmp_path):
    from zoo.training.loop import DivergedError

    torch.manual_seed(0)
    model = DivergesAfter(start=15)
    with pytest.raises(DivergedError, match="diverged: .* updates were skipped .* lower train.lr"):
        fit(model, toy_data(), None, quick(steps=200, checkpoint_every=5, keep_last=0), tmp_path, quiet=True)
    saved = weights_at(tmp_path)
    assert max(saved) < 40  # stopped soon after the storm began, not at step 200
    assert all(torch.isfinite(w).all() for weights in saved.values() for w in weights.values())
    assert same(saved[max(saved)], saved[15])  # nothing after the 14th update reached the weights


def test_a_few_skipped_updates_do_not_stop_the_run(tmp_path):
    model = make_denoiser(noise=0.0, nan_at=3)
    result = fit(model, toy_data(), None, quick(steps=20), tmp_path, quiet=True)
    assert result.step == 20 and result.skipped == 1


def test_best_metric_is_checked_before_the_first_step(tmp_path):
    model = make_denoiser(noise=0.0)
    with pytest.raises(ZooError, match="best_metric='los' .* did you mean 'loss'"):
        fit(model, toy_data(), toy_data(16, seed=1), quick(eval_every=3, best_metric="los"), tmp_path, quiet=True)
    assert model.calls == 0 and not list_checkpoints(tmp_path)


class NeedsAutogradToEvaluate(type(make_denoiser())):
    """Evaluation takes a gradient (as a GON's encode does): the core must not switch autograd off around it."""

    def metrics(self, batch):
        batch = batch.clone().requires_grad_(True)
        recon = sum(self.loss(batch).values())
        (input_gradient,) = torch.autograd.grad(recon, batch)
        return {"loss": recon.detach(), "input_gradient": input_gradient.norm()}


def test_evaluation_leaves_autograd_to_the_model(tmp_path):
    torch.manual_seed(0)
    result = fit(NeedsAutogradToEvaluate(noise=0.0), toy_data(), toy_data(16, seed=1), quick(eval_every=3), tmp_path,
                 quiet=True)
    assert result.eval_metrics["input_gradient"] > 0


def test_weights_that_overflow_stop_the_run_at_the_evaluation(tmp_path):
    """lr=1e30: the first update is finite but blows the weights up; no storm yet, the eval loss says it."""
    from zoo.training.loop import DivergedError

    model = make_denoiser(noise=0.0)
    with pytest.raises(DivergedError, match="eval loss is (nan|inf) at step 2"):
        fit(model, toy_data(), toy_data(16, seed=1), quick(steps=2, lr=1e30, eval_every=2), tmp_path, quiet=True)


class Ramp(Denoiser, BeforeUpdate):
    """Records the update counts the loop reports before each update."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen: list[int] = []

    def before_update(self, updates_applied: int) -> None:
        self.seen.append(updates_applied)


def test_before_update_gets_the_updates_applied_so_far(tmp_path):
    torch.manual_seed(0)
    model = Ramp(nan_at=3)  # the 3rd loss call is the 2nd update's first micro-step: that update is skipped
    fit(model, toy_data(), None, quick(steps=6, accumulate=2), tmp_path / "run", stop_at=4, quiet=True)
    assert model.seen == [0, 1, 1, 2]  # once per update, not per micro-step; the skipped one does not count
    torch.manual_seed(0)
    resumed = Ramp()
    fit(resumed, toy_data(), None, quick(steps=6, accumulate=2), tmp_path / "run", resume=True, quiet=True)
    assert resumed.seen == [3, 4]  # a resumed run goes on from where it stopped


def test_a_model_on_the_deprecated_annealed_still_trains_with_one_warning(tmp_path):
    with pytest.warns(DeprecationWarning, match=r"Annealed is deprecated .* implement zoo\.interfaces\.BeforeUpdate"):
        from zoo.interfaces import Annealed

    class OldRamp(Denoiser, Annealed):
        def __init__(self):
            super().__init__()
            self.seen: list[int] = []

        def anneal(self, updates: int) -> None:
            self.seen.append(updates)

    model = OldRamp()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # once, at the import: not again at every update
        fit(model, toy_data(), None, quick(steps=3), tmp_path, quiet=True)
    assert model.seen == [0, 1, 2] and isinstance(model, BeforeUpdate)


def test_train_threads_or_omp_num_threads_or_a_small_default(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert thread_count(0) == 1 and thread_count(3) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    assert thread_count(0) == 5 and thread_count(1) == 1  # the recipe's own setting wins
    monkeypatch.setenv("OMP_NUM_THREADS", "not a number")
    assert thread_count(0) == 1
    before = torch.get_num_threads()
    fit(make_denoiser(), toy_data(), None, quick(steps=1, threads=3), tmp_path)
    assert "| 3 thread(s) |" in capsys.readouterr().err and torch.get_num_threads() == before  # and put back
    with pytest.raises(RecipeError, match="threads=-1 must not be negative"):
        quick(threads=-1)
