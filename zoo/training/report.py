"""Where a run's numbers go: metrics.jsonl, TensorBoard (when installed), the console, the final summary.

``metrics.jsonl`` gets one record per log step and per evaluation::

    {"step": 20, "split": "train", "metrics": {"recon": 0.41, "kl": 0.07, "loss": 0.48},
     "lr": 0.00098, "grad_norm": 1.7, "skipped": 0, "items_per_s": 51200.0, "elapsed_s": 3.1}
    {"step": 20, "split": "eval", "metrics": {"recon": 0.43, "kl": 0.07, "loss": 0.50}}

On a terminal (or in Jupyter) the console shows a rich progress bar with the step, the loss terms,
the speed and the ETA; elsewhere (CI, cluster logs) it prints one plain line per log step. The speed is
in items/s, or in steps/s when every step takes one item (fitting one signal: an item is a whole image).
Only rank 0 keeps a log; the other processes' ``RunLog`` is silent. Nothing here is read as rich markup:
metric names come from plugins and paths from users, and ``[old]`` in either must print as it is.
"""

from __future__ import annotations

import contextlib
import json
import time
import warnings
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from zoo.errors import ZooError, ZooWarning
from zoo.training.checkpoint import atomic_write_bytes, space_report

__all__ = ["RunLog", "format_metrics"]


def format_metrics(metrics: dict[str, float]) -> str:
    """``loss 0.4812  kl 0.0701``: compact, for one line."""
    return "  ".join(f"{name} {value:.4g}" for name, value in metrics.items())


def _keep_records_until(path: Path, step: int) -> None:
    """Drop records after ``step``: a resumed run rewrites the steps its predecessor ran past its checkpoint.

    A line that is not a UTF-8 JSON record with an integer ``step`` (a torn write, a stray edit) is dropped
    too, and named in one warning: the log is what the curves are drawn from, not what the run depends on.
    """
    if not path.exists():
        return
    kept, dropped = [], []
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            record = json.loads(raw.decode("utf-8")) if raw.strip() else None
        except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            record = {}
        if record is None:
            continue
        if not isinstance(record, dict) or not isinstance(record.get("step"), int):
            dropped.append(number)
        elif record["step"] <= step:
            kept.append(raw.decode("utf-8"))
    if dropped:
        lines = ", ".join(map(str, dropped[:5])) + (f" and {len(dropped) - 5} more" if len(dropped) > 5 else "")
        warnings.warn(f"{path}: dropped {len(dropped)} line(s) that are not UTF-8 JSON records with a step "
                      f"(line {lines}); the other records are kept", ZooWarning, stacklevel=3)
    data = "".join(line + "\n" for line in kept).encode()
    try:
        atomic_write_bytes(path, data)
    except OSError as e:
        raise ZooError(f"could not rewrite {path} for the resume ({e.strerror or e}): it "
                       f"{space_report(path.parent, len(data))}; the checkpoints are intact") from e


def _tensorboard_writer(run_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is an optional dependency: pip install genzoo[tensorboard]
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


class _ProgressWithNumbers(Progress):
    """A progress bar line (step, bar, speed, ETA) with the loss terms on a line of their own below it."""

    def get_renderables(self):
        yield self.make_tasks_table(self.tasks)
        for task in self.tasks:
            numbers = task.fields["numbers"].copy()
            numbers.no_wrap, numbers.overflow = True, "ellipsis"
            yield numbers


class RunLog:
    """The log of one run: records, progress display and summary. A no-op when ``enabled`` is False."""

    def __init__(self, run_dir: Path, *, start_step: int, total_steps: int, items_per_step: int,
                 enabled: bool = True, quiet: bool = False):
        self.enabled = enabled
        if not enabled:
            return
        self.path = run_dir / "metrics.jsonl"
        _keep_records_until(self.path, start_step)
        self.file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (open for the whole run; stop() closes it)
        self.tensorboard = _tensorboard_writer(run_dir)
        self.console = Console(stderr=True, quiet=quiet)
        self.items_per_step = items_per_step
        self.unit = "steps" if items_per_step == 1 else "items"  # an item that is a whole signal is a step
        self.total_steps = total_steps
        self.start_time = self.last_time = time.perf_counter()
        self.start_step = self.last_step = start_step
        self.last_train: dict[str, Any] = {}
        self.last_eval: dict[str, float] = {}
        self.progress = None
        if not quiet and (self.console.is_terminal or self.console.is_jupyter):
            self.progress = _ProgressWithNumbers(
                TextColumn("[bold]step"), MofNCompleteColumn(), BarColumn(), TextColumn("{task.fields[speed]}"),
                TextColumn("ETA"), TimeRemainingColumn(), console=self.console,
            )
            self.task = self.progress.add_task("train", total=total_steps, completed=start_step, numbers=Text(),
                                               speed="")
            self.progress.start()

    def _write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record) + "\n"
        try:
            self.file.write(line)
            self.file.flush()
        except OSError as e:  # a full disk: one line, not a traceback (a torn last line is dropped on resume)
            raise ZooError(f"could not write {self.path} ({e.strerror or e}): it "
                           f"{space_report(self.path.parent, len(line))}; the checkpoints written so far are intact"
                           ) from e
        if self.tensorboard is not None:
            for name, value in record["metrics"].items():
                self.tensorboard.add_scalar(f"{record['split']}/{name}", value, record["step"])

    def train(self, step: int, metrics: dict[str, float], *, lr: float, grad_norm: float, skipped: int) -> None:
        """Record the train terms averaged since the last log step; update the display."""
        if not self.enabled:
            return
        now, last_step, last_time = time.perf_counter(), self.last_step, self.last_time
        items_per_s = (step - last_step) * self.items_per_step / max(now - last_time, 1e-9)
        self.last_time, self.last_step = now, step
        self.last_train = {"metrics": metrics, "lr": lr, "grad_norm": grad_norm, "skipped": skipped,
                           "items_per_s": items_per_s}
        self._write({"step": step, "split": "train", **self.last_train, "elapsed_s": now - self.start_time})
        numbers = Text(f"{format_metrics(metrics)}  lr {lr:.3g}")
        if skipped:
            numbers.append(f"  skipped {skipped}", style="yellow")
        speed = self._speed(step - last_step, now - last_time)
        if self.progress is not None:
            self.progress.update(self.task, completed=step, numbers=numbers, speed=speed)
        else:
            self.console.print(Text(f"step {step}/{self.total_steps}  ").append_text(numbers).append(f"  {speed}"),
                               highlight=False, soft_wrap=True)

    def _speed(self, steps: int, seconds: float) -> str:
        """``51,200 items/s``, or ``1.73 steps/s`` when a step is one item: enough digits to tell 1 from 2."""
        rate = steps * (1 if self.unit == "steps" else self.items_per_step) / max(seconds, 1e-9)
        return f"{rate:,.0f} {self.unit}/s" if rate >= 100 else f"{rate:.3g} {self.unit}/s"

    def eval(self, step: int, metrics: dict[str, float], *, best: bool) -> None:
        """Record an evaluation and print it."""
        if not self.enabled:
            return
        self.last_eval = metrics
        self._write({"step": step, "split": "eval", "metrics": metrics})
        line = Text(f"eval @ step {step}: {format_metrics(metrics)}")
        if best:
            line.append("  best", style="green")
        self.note(line)

    def note(self, text: str | Text) -> None:
        """Print a line as it is (a ``str`` is not read as markup)."""
        if self.enabled:
            self.console.print(Text(text) if isinstance(text, str) else text, highlight=False, soft_wrap=True)

    def stop(self) -> None:
        """Stop the display and close the files (also after an error)."""
        if not self.enabled:
            return
        self.end_time = time.perf_counter()
        if self.progress is not None:
            self.progress.stop()
        with contextlib.suppress(OSError):  # every record was flushed, unless the write that failed: raised already
            self.file.close()
        if self.tensorboard is not None:
            self.tensorboard.close()

    def summary(self, *, step: int, skipped: int, best: dict[str, Any] | None, run_dir: Path) -> None:
        """The one-screen table at the end of a run."""
        if not self.enabled:
            return
        elapsed = self.end_time - self.start_time
        # paths go on lines of their own, never folded or cut at the console's width: they are there to be copied
        self.console.print(f"run {run_dir}", markup=False, highlight=False, soft_wrap=True)
        table = Table(show_header=False)
        table.add_column(style="bold")
        table.add_column()
        table.add_row("steps", f"{step} / {self.total_steps} ({step - self.start_step} this session, {elapsed:.1f} s)")
        if step > self.start_step:
            table.add_row("throughput", self._speed(step - self.start_step, elapsed))
        table.add_row("skipped updates", str(skipped))
        if self.last_train:
            table.add_row("train (last log)", Text(format_metrics(self.last_train["metrics"])))
        if self.last_eval:
            table.add_row("eval (last)", Text(format_metrics(self.last_eval)))
        if best:
            table.add_row("best", Text(f"{best['metric']} {best['value']:.4g} at step {best['step']}"))
        self.console.print(table)
        self.console.print(f"metrics {self.path}", markup=False, highlight=False, soft_wrap=True)
