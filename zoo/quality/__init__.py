"""Sample quality, offline: FID, KID and precision/recall in the feature space of a small domain network.

The usual feature network (Inception) can't be downloaded here and no metrics package ships it, so the zoo trains a
small one per image domain on its own embedded data and ships its weights like any recipe's (``zoo.pretrained``):

- ``features-digits``: a CNN classifying scikit-learn's 8x8 digits (``labelled-digits``);
- ``features-faces``: a CNN telling scikit-image's LFW faces from the non-face patches it ships beside them
  (``faces-or-not``).

The numbers are FID (and KID, precision/recall) *with a domain network*: they rank models on the same data and
the same network, and are not comparable to Inception FID or to numbers from another network. Samples are compared
with the test split of the recipe's data; images of another size are resized to the network's input first.

- ``frechet_distance``: ``|mu_r - mu_f|^2 + tr(S_r + S_f - 2 (S_r S_f)^(1/2))`` of Gaussians fitted to the two
  feature sets (Heusel et al. 2017), the square root's trace from the eigenvalues of ``S_r^(1/2) S_f S_r^(1/2)``.
- ``kernel_distance``: the unbiased MMD^2 with the cubic polynomial kernel ``(x.y / d + 1)^3``, averaged over
  random subsets (Binkowski et al. 2018).
- ``precision_recall``: the fraction of samples inside the k-nearest-neighbour balls of the real features, and of
  real features inside the balls of the samples' (Kynkaanniemi et al. 2019, k = 3).

``zoo eval RUN --samples N`` reports all four for a model that samples images; ``--features FILE`` measures in a
network of the user's (``load_features``: safetensors whose metadata names a registered component, nothing executes).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from zoo.errors import ZooError
from zoo.hookspecs import hookimpl

__all__ = ["FEATURE_RECIPES", "FeatureExtractor", "check_samples", "features_for", "frechet_distance",
           "kernel_distance", "load_features", "precision_recall", "sample_quality", "samples_images", "save_features"]

#: dataset -> the recipe of its feature network (the embedded image datasets of zoo.data)
FEATURE_RECIPES = {"digits": "features-digits", "lfw-faces": "features-faces"}
NEIGHBOURS = 3  # k of precision/recall, as Kynkaanniemi et al. recommend
KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000  # as torchmetrics and torch-fidelity default


class FeatureExtractor(ABC):
    """A network that maps images to features: ``features(images (b, c, h, w) in [0, 1])`` -> ``(b, d)``.

    It resizes images of another size than its own input itself.
    """

    @abstractmethod
    def features(self, images: Tensor) -> Tensor: ...


# --- the statistics ------------------------------------------------------------------------------------------


def _spd_sqrt(matrix: Tensor) -> Tensor:
    """The square root of a symmetric positive semi-definite matrix (negative eigenvalues from rounding: 0)."""
    values, vectors = torch.linalg.eigh(matrix)
    return vectors @ torch.diag(values.clamp(min=0).sqrt()) @ vectors.T


def frechet_distance(real: Tensor, fake: Tensor) -> float:
    """FID between feature sets ``real (n, d)`` and ``fake (m, d)`` (n, m >= 2), computed in float64."""
    real, fake = real.double(), fake.double()
    mu_r, mu_f = real.mean(0), fake.mean(0)
    cov_r, cov_f = torch.cov(real.T).reshape(real.shape[1], -1), torch.cov(fake.T).reshape(fake.shape[1], -1)
    root = _spd_sqrt(cov_r)
    middle = root @ cov_f @ root
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    return float((mu_r - mu_f).square().sum() + cov_r.trace() + cov_f.trace() - 2 * trace_sqrt)


def _mmd2_unbiased(x: Tensor, y: Tensor) -> Tensor:
    """The unbiased MMD^2 of ``x (n, d)`` and ``y (m, d)`` with the kernel ``(a.b / d + 1)^3``."""
    d = x.shape[1]
    k_xx, k_yy, k_xy = ((a @ b.T / d + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
    n, m = x.shape[0], y.shape[0]
    within_x = (k_xx.sum() - k_xx.diagonal().sum()) / (n * (n - 1))
    within_y = (k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return within_x + within_y - 2 * k_xy.mean()


def kernel_distance(real: Tensor, fake: Tensor, *, subsets: int = KID_SUBSETS, subset_size: int = KID_SUBSET_SIZE,
                    seed: int = 0) -> float:
    """KID: the unbiased polynomial-kernel MMD^2 of ``real (n, d)`` and ``fake (m, d)``, averaged over ``subsets``
    random subsets of ``min(subset_size, n, m)`` items of each (drawn with a generator seeded by ``seed``)."""
    real, fake = real.double(), fake.double()
    size = min(subset_size, real.shape[0], fake.shape[0])
    if size < 2:
        raise ZooError(f"KID needs at least 2 items in each set, got {real.shape[0]} and {fake.shape[0]}")
    generator = torch.Generator().manual_seed(seed)
    values = [_mmd2_unbiased(real[torch.randperm(real.shape[0], generator=generator)[:size]],
                             fake[torch.randperm(fake.shape[0], generator=generator)[:size]]) for _ in range(subsets)]
    return float(torch.stack(values).mean())


def _radii(points: Tensor, k: int) -> Tensor:
    """The distance of each point ``(n, d)`` to its k-th nearest other point ``(n,)``."""
    distances = torch.cdist(points, points)
    return distances.kthvalue(k + 1, dim=1).values  # the 0th neighbour is the point itself


def precision_recall(real: Tensor, fake: Tensor, *, k: int = NEIGHBOURS) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) of ``fake (m, d)`` against ``real (n, d)``.

    Precision: the fraction of fakes within the k-NN radius of some real point; recall: the fraction of reals
    within the k-NN radius of some fake point. Each set needs more than ``k`` points.
    """
    if min(real.shape[0], fake.shape[0]) <= k:
        raise ZooError(f"precision/recall with k={k} needs more than {k} items in each set, got {real.shape[0]} "
                       f"and {fake.shape[0]}")
    real, fake = real.double(), fake.double()
    between = torch.cdist(fake, real)  # (m, n)
    precision = (between <= _radii(real, k)[None, :]).any(dim=1).double().mean()
    recall = (between <= _radii(fake, k)[:, None]).any(dim=0).double().mean()
    return float(precision), float(recall)


# --- the feature networks and the samples -----------------------------------------------------------------------


def _dataset(recipe: dict) -> str | None:
    data = recipe.get("data")
    return data if isinstance(data, str) else (data or {}).get("name")


def features_for(recipe: dict) -> str | None:
    """The recipe of the feature network for the recipe's data (None: the zoo has none for it)."""
    return FEATURE_RECIPES.get(_dataset(recipe))


def samples_images(model) -> bool:
    """Whether the model draws samples (a ``Sampler``) of data that is pictures (``images``)."""
    from zoo.interfaces import Sampler

    return isinstance(model, Sampler) and "images" in getattr(model, "data_kinds", ())


def check_samples(model, n: int) -> None:
    """A ZooError unless ``model`` samples pictures and ``n`` is enough samples to measure them."""
    if not samples_images(model):
        raise ZooError(f"model {type(model).__name__} does not sample pictures, so it has no sample quality; "
                       "--samples is for models that draw images (zoo list --kind model)")
    if n < 2:
        raise ZooError(f"--samples {n}: sample quality needs at least 2 samples (1000 is usual here)")


def save_features(network: torch.nn.Module, path: str | Path, *, component: str, arguments: dict[str, Any],
                  kind: str = "model") -> Path:
    """Write ``network`` (a registered ``kind`` component built with ``arguments``) as a ``--features`` file."""
    import safetensors.torch

    state = {k: v.detach().cpu().clone().contiguous() for k, v in network.state_dict().items()}
    metadata = {"zoo_kind": kind, "zoo_component": component, "zoo_arguments": json.dumps(arguments)}
    safetensors.torch.save_file(state, str(path), metadata=metadata)
    return Path(path)


def load_features(path: str | Path) -> FeatureExtractor:
    """A feature network from a safetensors file: its metadata names the registered component (``zoo_kind``,
    ``zoo_component``) and its arguments (``zoo_arguments``, JSON); the tensors are its weights. Nothing in the
    file executes: the code is the installed component's. ``save_features`` writes one."""
    import safetensors
    import safetensors.torch

    from zoo.registry import get_registry

    path = Path(path)
    if not path.is_file():
        raise ZooError(f"--features {path}: no such file (a safetensors file written by zoo.quality.save_features)")
    try:
        with safetensors.safe_open(str(path), "pt") as handle:
            metadata = handle.metadata() or {}
        tensors = safetensors.torch.load_file(str(path))
    except (safetensors.SafetensorError, OSError) as exc:
        raise ZooError(f"--features {path} is not a readable safetensors file ({exc})") from None
    missing = [key for key in ("zoo_kind", "zoo_component", "zoo_arguments") if key not in metadata]
    if missing:
        raise ZooError(f"--features {path}: its metadata lacks {', '.join(missing)}; write it with "
                       "zoo.quality.save_features(network, path, component=NAME, arguments={...})")
    try:
        arguments = json.loads(metadata["zoo_arguments"])
    except json.JSONDecodeError as exc:
        raise ZooError(f"--features {path}: its zoo_arguments are not JSON ({exc})") from None
    network = get_registry().create(metadata["zoo_kind"], metadata["zoo_component"], **arguments)
    if not isinstance(network, FeatureExtractor):
        raise ZooError(f"--features {path}: {metadata['zoo_kind']} {metadata['zoo_component']!r} is not a "
                       "FeatureExtractor (zoo.quality): it has no features(images) to measure in")
    try:
        network.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise ZooError(f"--features {path}: its weights do not fit {metadata['zoo_component']!r} built with "
                       f"{arguments}: {str(exc).splitlines()[0]}") from None
    return network.eval()


def _domain_network(recipe: dict) -> FeatureExtractor:
    from zoo.pretrained import load_pretrained

    name = features_for(recipe)
    if name is None:
        raise ZooError(f"the zoo has no feature network for the dataset {_dataset(recipe)!r} (it has one for "
                       f"{', '.join(FEATURE_RECIPES)}): pass your own with --features FILE (zoo.quality.save_features "
                       "writes one)")
    return load_pretrained(name)[0]


@torch.no_grad()
def _embed(network: FeatureExtractor, images: Tensor, batch: int = 500) -> Tensor:
    return torch.cat([network.features(images[i:i + batch]) for i in range(0, len(images), batch)])


def sample_quality(model, recipe: dict, *, n: int, seed: int = 0, features: FeatureExtractor | None = None,
                   batch: int = 250, options: dict[str, Any] | None = None) -> dict[str, float]:
    """FID, KID, precision and recall of ``n`` samples of ``model`` against the test split of ``recipe``'s data,
    in the feature space of ``features`` (by default the domain network of the data: ``features_for``).

    ``options`` go to ``model.sample`` (an autoencoder's ``standard_normal=True``)."""
    from zoo.recipes import build_dataset

    check_samples(model, n)
    network = features if features is not None else _domain_network(recipe)
    network = network.to("cpu")
    test = build_dataset(recipe, "test")
    real = torch.stack([test[i] for i in range(len(test))])
    torch.manual_seed(seed)
    drawn = [model.sample(min(batch, n - i), **(options or {})).detach().float().cpu().clamp(0, 1)
             for i in range(0, n, batch)]
    real_features, fake_features = _embed(network, real), _embed(network, torch.cat(drawn))
    precision, recall = precision_recall(real_features, fake_features)
    return {"fid": frechet_distance(real_features, fake_features),
            "kid": kernel_distance(real_features, fake_features, seed=seed),
            "precision": precision, "recall": recall}


@hookimpl
def register_components(register):
    from zoo.quality.networks import FeatureClassifier, faces_or_not, labelled_digits

    register("model", "feature-classifier", FeatureClassifier)
    register("dataset", "labelled-digits", labelled_digits, paper="Alpaydin & Kaynak 1998, UCI Optical "
             "Recognition of Handwritten Digits")
    register("dataset", "faces-or-not", faces_or_not, paper="Huang et al. 2007, Labeled Faces in the Wild "
             "(scikit-image's lfw_subset)")
