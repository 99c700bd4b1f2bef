"""Tiny models and in-memory datasets for the training-loop tests (no registry, no files)."""

from __future__ import annotations

import os
import signal

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from zoo.interfaces import Model


class Items(Dataset):
    """Rows of a tensor as items, like the zoo's in-memory datasets (``shape`` is one item's shape)."""

    def __init__(self, x: Tensor):
        self.x = x
        self.shape = tuple(x.shape[1:])

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> Tensor:
        return self.x[i]


def toy_data(n: int = 40, dim: int = 8, seed: int = 0) -> Items:
    """``n`` points near one fixed 2-D subspace of R^dim (``seed`` picks the points): a denoiser can learn it."""
    basis = torch.randn(2, dim, generator=torch.Generator().manual_seed(1234))
    g = torch.Generator().manual_seed(seed)
    return Items(torch.randn(n, 2, generator=g) @ basis + 0.05 * torch.randn(n, dim, generator=g))


class Denoiser(Model):
    """An MLP that removes Gaussian input noise; two loss terms. ``noise=0`` makes it deterministic.

    ``batch_norm`` puts a BatchNorm1d after the first layer: a model with buffers (its running statistics).
    Test hooks: ``nan_at`` makes the loss NaN at that (1-based) training call of ``loss``;
    ``interrupt_at`` sends this process ``interrupt_with`` (SIGINT: a Ctrl-C) during that call.
    """

    def __init__(self, dim: int = 8, hidden: int = 16, noise: float = 0.1, nan_at: int = 0, interrupt_at: int = 0,
                 batch_norm: bool = False, interrupt_with: int = signal.SIGINT):
        super().__init__()
        norm = [nn.BatchNorm1d(hidden)] if batch_norm else []
        self.net = nn.Sequential(nn.Linear(dim, hidden), *norm, nn.Tanh(), nn.Linear(hidden, dim))
        self.noise, self.nan_at, self.interrupt_at, self.interrupt_with = noise, nan_at, interrupt_at, interrupt_with
        self.calls = 0

    def loss(self, batch: Tensor) -> dict[str, Tensor]:
        if self.training:
            self.calls += 1
        noisy = batch + self.noise * torch.randn_like(batch) if self.noise else batch
        recon = ((self.net(noisy) - batch) ** 2).mean()
        if self.training and self.calls == self.nan_at:
            recon = recon * float("nan")
        if self.training and self.calls == self.interrupt_at:
            os.kill(os.getpid(), self.interrupt_with)
        return {"recon": recon, "weights": 1e-3 * self.net[0].weight.pow(2).mean()}


def make_denoiser(seed: int = 0, **kwargs) -> Denoiser:
    torch.manual_seed(seed)
    return Denoiser(**kwargs)
