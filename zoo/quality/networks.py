"""The domain feature networks' model and the labelled data they are trained on.

``feature-classifier`` is a small CNN trained by the zoo's loop to classify images; its features are the layer
before the class scores. ``labelled-digits`` are scikit-learn's digits with their classes; ``faces-or-not`` are
scikit-image's LFW faces (class 1) and the non-face patches it ships beside them (class 0).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn
from torch.utils.data import Dataset

from zoo.data import declare_facts
from zoo.data.core import split_indices
from zoo.data.images import DIGIT_LEVELS
from zoo.interfaces import Model
from zoo.quality import FeatureExtractor
from zoo.recipes import PositiveInt

__all__ = ["LABELLED", "FeatureClassifier", "LabelledImages", "faces_or_not", "labelled_digits"]

LABELLED = "labelled-images"  # the kind of data: items {"image": (c, h, w) in [0, 1], "label": ()}


class LabelledImages(Dataset):
    """Images ``(n, c, h, w)`` in [0, 1] with their classes ``(n,)``; item ``i`` is ``{"image", "label"}``."""

    kind = LABELLED

    def __init__(self, images: Tensor, labels: Tensor, *, levels: int | None = None):
        if images.dim() != 4 or labels.shape != images.shape[:1]:
            raise ValueError(f"images must be (n, c, h, w) and labels (n,), got {tuple(images.shape)} and "
                             f"{tuple(labels.shape)}")
        self.images, self.labels, self.levels = images.float(), labels.long(), levels
        self.shape: tuple[int, ...] = tuple(images.shape[1:])

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return {"image": self.images[index], "label": self.labels[index]}


@declare_facts(lambda **_: {"shape": (1, 8, 8), "levels": DIGIT_LEVELS, "kind": LABELLED})
def labelled_digits(*, split: str = "train") -> LabelledImages:
    """scikit-learn's 8x8 digits with their classes 0..9: the split of the ``digits`` dataset (1617 / 180)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    chosen = split_indices(len(digits.images), split, "labelled-digits")
    images = rearrange(torch.from_numpy(digits.images).float() / 16.0, "n h w -> n 1 h w")
    return LabelledImages(images[chosen], torch.from_numpy(digits.target)[chosen], levels=DIGIT_LEVELS)


@declare_facts(lambda **_: {"shape": (1, 25, 25), "levels": None, "kind": LABELLED})
def faces_or_not(*, split: str = "train") -> LabelledImages:
    """scikit-image's ``lfw_subset``: 100 LFW faces (class 1) and 100 non-face patches (class 0), 25x25 in [0, 1];
    a fixed seeded 90/10 split of the 200 (the faces of its test split are not all those of ``lfw-faces``')."""
    from skimage.data import lfw_subset

    images = rearrange(torch.from_numpy(lfw_subset()).float(), "n h w -> n 1 h w")
    labels = torch.cat([torch.ones(100), torch.zeros(len(images) - 100)])
    chosen = split_indices(len(images), split, "faces-or-not")
    return LabelledImages(images[chosen], labels[chosen])


def _halved(side: int) -> int:
    """The side after a 3x3 convolution of stride 2 and padding 1."""
    return (side - 1) // 2 + 1


class FeatureClassifier(Model, FeatureExtractor):
    """A small CNN classifier whose penultimate layer is a feature space for sample quality (FID with a domain
    network).

    Three 3x3 convolutions (``width``, then twice ``2 * width`` channels at stride 2, SiLU), a linear map to
    ``feature_dim`` features standardised with the training data's running mean and variance (a BatchNorm without
    its affine map), then SiLU and a linear map to the ``num_classes`` scores. Images of another size
    than ``shape`` are resized to it (antialiased bilinear) before the features are taken.
    """

    data_kinds = (LABELLED,)

    def __init__(self, *, shape: tuple[int, int, int], num_classes: PositiveInt, width: PositiveInt = 32,
                 feature_dim: PositiveInt = 32):
        super().__init__()
        channels, height, width_px = shape
        self.shape = tuple(shape)
        self.trunk = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.SiLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1), nn.SiLU(),
            nn.Flatten(),
            nn.Linear(2 * width * _halved(_halved(height)) * _halved(_halved(width_px)), feature_dim),
            # features standardised by the training data's running statistics, so that distances and KID's
            # polynomial kernel see numbers of order 1 whatever scale the network learned
            nn.BatchNorm1d(feature_dim, affine=False),
        )
        self.head = nn.Sequential(nn.SiLU(), nn.Linear(feature_dim, num_classes))

    def features(self, images: Tensor) -> Tensor:
        """``images (b, c, h, w)`` in [0, 1] -> ``(b, feature_dim)``."""
        if tuple(images.shape[-2:]) != self.shape[1:]:
            images = F.interpolate(images, size=self.shape[1:], mode="bilinear", antialias=True, align_corners=False)
        return self.trunk(images)

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """``{"image": (b, c, h, w), "label": (b,)}`` -> ``{"cross_entropy"}``."""
        return {"cross_entropy": F.cross_entropy(self.head(self.features(batch["image"])), batch["label"])}

    @torch.no_grad()
    def metrics(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """The cross entropy (``loss``) and the fraction classified right (``accuracy``)."""
        scores = self.head(self.features(batch["image"]))
        cross_entropy = F.cross_entropy(scores, batch["label"])
        accuracy = (scores.argmax(-1) == batch["label"]).float().mean()
        return {"cross_entropy": cross_entropy, "loss": cross_entropy, "accuracy": accuracy}
