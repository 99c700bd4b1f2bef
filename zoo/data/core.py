"""What every dataset of the zoo is made of: the two dataset classes, deterministic splits, resizing, errors.

Items are plain float tensors, no labels (the zoo's models are unsupervised): images ``(c, h, w)`` in
[0, 1], signals ``(c, n)``. Every dataset states its facts (``FACTS``): ``shape``, the shape of one item
(of its image, for views); ``levels``, how many evenly spaced values on [0, 1] its items take (17 for the
8x8 digits, 256 for 8-bit images, 2 binarised; None where they are continuous); and ``kind``, one of
``DATA_KINDS``. A recipe reads them (``shape: ${data.shape}``) and a model says which kinds it takes, so
sizes follow the data and a model meets data it can't use before training starts. A factory declares
what it can say from its options alone with ``declare_facts``, so a recipe knows it without loading
anything; what it leaves out is read from the built dataset.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from zoo.errors import DataError, DataNotFoundError
from zoo.arguments import renamed_arguments
from zoo.arguments import PositiveInt

__all__ = [
    "DATA_KINDS",
    "FACTS",
    "SPLITS",
    "DataError",
    "DataNotFoundError",
    "ImageDataset",
    "SignalDataset",
    "center_square",
    "check_size",
    "check_split",
    "declare_facts",
    "split_indices",
]

#: The splits every dataset accepts. Embedded sets without an official split are cut 90/10 by a fixed
#: seeded permutation; single-signal datasets return the same signal for both (fitting one signal).
SPLITS = ("train", "test")

#: What a dataset states about itself, as attributes of the dataset (see the module docstring).
FACTS = ("shape", "levels", "kind")

#: The kinds of data, what a model's ``data_kinds`` name.
DATA_KINDS = {
    "images": "many items (c, h, w) in [0, 1], whose distribution a model learns",
    "signals": "one item (c, ...) to fit: a picture (c, h, w), a sound (1, n), a video (c, t, h, w)",
    "views": "pictures of one scene, each a dict of the image (c, h, w) and its camera",
}

Factory = TypeVar("Factory", bound=Callable[..., Any])


def declare_facts(facts: Callable[..., dict[str, Any]]) -> Callable[[Factory], Factory]:
    """Declare what a dataset factory's datasets state (some of ``FACTS``), from its options alone.

    ``facts(**options)`` gets the options a recipe gives the factory (write it with ``**_`` for those it
    does not need) and returns the facts it can tell without loading or reading a file: a recipe's
    ``${data.shape}`` costs nothing then, and data that is not on this machine still validates. Facts it
    leaves out are read from the dataset, built once. The conformance suite checks that the two agree.
    """

    def declare(factory: Factory) -> Factory:
        factory.facts = facts  # type: ignore[attr-defined]
        return factory

    return declare


class ImageDataset(Dataset):
    """Images held in memory; item ``i`` is a float ``(c, h, w)`` tensor in [0, 1].

    ``images`` is ``(n, c, h, w)``, uint8 (0..255, kept as bytes to save memory and converted per item:
    256 levels) or float in [0, 1], whose ``levels`` the caller states (None: continuous). With
    ``threshold_binarize`` each pixel becomes ``1.0 if x > 0.5 else 0.0`` (2 levels): a fixed threshold, so
    the binary data set is the same in every epoch and every run.
    """

    kind = "images"

    @renamed_arguments(binarize="threshold_binarize")
    def __init__(self, images: Tensor, *, threshold_binarize: bool = False, levels: PositiveInt | None = None):
        if images.dim() != 4:
            raise ValueError(f"images must be (n, c, h, w), got shape {tuple(images.shape)}")
        self.images = images
        self.threshold_binarize = threshold_binarize
        self.shape: tuple[int, ...] = tuple(images.shape[1:])
        self.levels = 2 if threshold_binarize else 256 if images.dtype == torch.uint8 else levels

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

    An image is ``(c, h, w)`` in [0, 1]; audio is ``(1, n)`` in [-1, 1]; a video is ``(c, t, h, w)`` in
    [0, 1]. ``sample_rate`` is the samples per second along the first axis after the channels, in Hz: a
    sound's sample rate, a video's frame rate. ``levels`` is how many evenly spaced values on [0, 1] it
    takes (None: continuous).
    """

    kind = "signals"

    def __init__(self, signal: Tensor, *, sample_rate: float | None = None, levels: int | None = None):
        self.signal = signal.float()
        self.sample_rate = sample_rate
        self.shape: tuple[int, ...] = tuple(signal.shape)
        self.levels = levels

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
