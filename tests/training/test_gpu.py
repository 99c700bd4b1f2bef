"""The CUDA paths: bf16 autocast and the fused AdamW. Skipped without a CUDA device (none on the CI machine)."""

from __future__ import annotations

import pytest
import torch
from train_toys import make_denoiser, toy_data

from zoo.training import TrainSettings, fit
from zoo.training.runtime import resolve_precision

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def test_bf16_run_on_cuda_trains_and_resumes(tmp_path):
    assert resolve_precision(torch.device("cuda"), "auto") == ("bf16" if torch.cuda.is_bf16_supported() else "fp32")
    settings = TrainSettings(steps=20, batch_size=8, lr=1e-2, eval_every=10, checkpoint_every=10, device="cuda",
                             precision="bf16", ema=0.9)
    model = make_denoiser(noise=0.0)
    first = fit(model, toy_data(), toy_data(16, seed=1), settings, tmp_path, stop_at=10, quiet=True)
    assert next(model.parameters()).device.type == "cuda"
    resumed = make_denoiser(noise=0.0)
    result = fit(resumed, toy_data(), toy_data(16, seed=1), settings, tmp_path, resume=True, quiet=True)
    assert result.step == 20 and result.skipped == 0
    assert result.eval_metrics["loss"] < first.eval_metrics["loss"]
