"""What every dataset of the zoo is made of: the two dataset classes, deterministic splits, resizing, errors.

Items are plain float tensors, no labels (the zoo's models are unsupervised): images ``(c, h, w)`` in
[0, 1], signals ``(c, n)``. Every dataset has ``shape``, the shape of one item, so a model can be
checked against its data before training starts.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from zoo.errors import DataError, DataNotFoundError
from zoo.recipes.renames import renamed_arguments

__all__ = [
    "SPLITS",
    "DataError",
    "DataNotFoundError",
    "ImageDataset",
    "SignalDataset",
    "center_square",
    "check_size",
    "check_split",
    "split_indices",
]

#: The splits every dataset accepts. Embedded sets without an official split are cut 90/10 by a fixed
#: seeded permutation; single-signal datasets return the same signal for both (fitting one signal).
SPLITS = ("train", "test")



class ImageDataset(Dataset):
    """Images held in memory; item ``i`` is a float ``(c, h, w)`` tensor in [0, 1].

    ``images`` is ``(n, c, h, w)``, uint8 (0..255, kept as bytes to save memory and converted per item)
    or float in [0, 1]. With ``threshold_binarize`` each pixel becomes ``1.0 if x > 0.5 else 0.0``: a fixed
    threshold, so the binary data set is the same in every epoch and every run.
    """

    @renamed_arguments(binarize="threshold_binarize")
    def __init__(self, images: Tensor, *, threshold_binarize: bool = False):
        if images.dim() != 4:
            raise ValueError(f"images must be (n, c, h, w), got shape {tuple(images.shape)}")
        self.images = images
        self.threshold_binarize = threshold_binarize
        self.shape: tuple[int, ...] = tuple(images.shape[1:])

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> Tensor:
        x = self.images[index]
        x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
        return (x > 0.5).float() if self.threshold_binarize else x

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={len(self)}, shape={self.shape}, threshold_binarize={self.threshold_binarize})"


class SignalDataset(Dataset):
    """One signal to fit (implicit networks): length 1, the item is the whole ``signal`` ``(c, ...)``.

    An image is ``(c, h, w)`` in [0, 1]; audio is ``(1, n)`` in [-1, 1] with ``sample_rate`` in Hz.
    """

    def __init__(self, signal: Tensor, *, sample_rate: int | None = None):
        self.signal = signal.float()
        self.sample_rate = sample_rate
        self.shape: tuple[int, ...] = tuple(signal.shape)

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int) -> Tensor:
        if index not in (0, -1):
            raise IndexError(f"a single-signal dataset has one item (index 0), got index {index}")
        return self.signal

    def __repr__(self) -> str:
        rate = f", sample_rate={self.sample_rate}" if self.sample_rate else ""
        return f"{type(self).__name__}(shape={self.shape}{rate})"


def check_split(split: str, dataset: str, valid: tuple[str, ...] = SPLITS) -> None:
    """Raise a `DataError` listing the valid splits when ``split`` is not one of them."""
    if split not in valid:
        raise DataError(
            f"unknown split {split!r} for dataset {dataset!r}: valid splits are {', '.join(valid)}"
            f" (set it with --set data.split={valid[0]})"
        )


def split_indices(n: int, split: str, dataset: str, *, test_fraction: float = 0.1, seed: int = 0) -> Tensor:
    """The sorted indices of ``split`` among ``n`` items: a fixed seeded permutation, cut train/test.

    The test part has ``round(n * test_fraction)`` items, at least one when ``n >= 2``; the same ``n``
    gives the same split on every machine and every run.
    """
    check_split(split, dataset)
    n_test = max(1, round(n * test_fraction)) if n >= 2 else 0
    order = torch.from_numpy(np.random.default_rng(seed).permutation(n))
    chosen = order[:n_test] if split == "test" else order[n_test:]
    return chosen.sort().values


def check_size(size: int) -> int:
    """``size`` if it is a positive number of pixels, else a `DataError` saying so."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise DataError(f"size must be a positive integer (pixels), got {size!r}")
    return size


def center_square(images: Tensor, size: int) -> Tensor:
    """Float ``(n, c, h, w)`` in [0, 1] -> ``(n, c, size, size)``: crop the central square, resize it.

    Resizing is bilinear with antialiasing (PIL's filter), so values stay in [0, 1].
    """
    check_size(size)
    h, w = images.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = images[..., top : top + side, left : left + side]
    if size == side:
        return square
    resized = F.interpolate(square, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return resized.clamp_(0.0, 1.0)
