"""Image datasets: embedded defaults (digits, LFW faces) and loaders for the data people bring.

Every factory is ``factory(*, root=None, split="train", **options) -> Dataset`` whose items are float
``(c, h, w)`` tensors in [0, 1] (no labels). The embedded sets ship inside scikit-learn / scikit-image
and ignore ``root``; MNIST, Fashion-MNIST and CIFAR-10 are read from ``root`` (default: ``$ZOO_DATA``,
else ``./data``) in torchvision's layout and are only fetched with ``download=True``; an image folder is
read from ``root`` itself. torchvision, scikit-learn and scikit-image are imported inside the loaders so
that importing this module (``zoo list``) stays cheap.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from einops import rearrange
from torch import Tensor
from torch.utils.data import Dataset

from zoo.data.core import (
    DataError,
    DataNotFoundError,
    ImageDataset,
    center_square,
    check_size,
    check_split,
    declare_facts,
    split_indices,
)
from zoo.arguments import renamed_arguments
from zoo.arguments import PositiveInt

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageFolder",
    "cifar10",
    "digits",
    "fashion_mnist",
    "image_folder",
    "lfw_faces",
    "mnist",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
DIGIT_LEVELS = 17  # scikit-learn's digits count 0..16 pixels on


def _images(channels: int, side: int, size: int | None, levels: int | None, *, binarize: bool = False,
            rounded: bool = False) -> dict:
    """The facts of square images of ``side`` pixels and ``levels`` levels, resized to ``size`` (None: as they
    are). Resizing makes the values continuous, unless it rounds them back to the levels (``rounded``)."""
    resized = size is not None and size != side
    return {"shape": (channels, side if size is None else size, side if size is None else size), "kind": "images",
            "levels": 2 if binarize else None if resized and not rounded else levels}


def _data_root(root: str | None) -> Path:
    return Path(root if root is not None else os.environ.get("ZOO_DATA", "data")).expanduser()


# --- embedded -----------------------------------------------------------------------------------------


def _resized(images: Tensor, size: int | None) -> Tensor:
    """Images ``(n, c, h, w)`` (uint8, or float in [0, 1]) at ``size`` x ``size`` (None: as they are).

    Antialiased bilinear (`center_square`); uint8 images are resized as floats and rounded back to bytes,
    as torchvision's ``Resize`` on PIL images does for the reference code of papers trained on 32x32 MNIST.
    """
    if size is None:
        return images
    if images.dtype != torch.uint8:
        return center_square(images, size)
    return center_square(images.float() / 255.0, size).mul_(255.0).round_().to(torch.uint8)


@renamed_arguments(binarize="threshold_binarize")
@declare_facts(lambda *, size=None, threshold_binarize=False, **_: _images(1, 8, size, DIGIT_LEVELS,
                                                                         binarize=threshold_binarize))
def digits(
    *, root: str | None = None, split: str = "train", threshold_binarize: bool = False,
    size: PositiveInt | None = None,
) -> ImageDataset:
    """scikit-learn's 8x8 handwritten digits (embedded): items (1, 8, 8) in [0, 1].

    1797 images; pixel counts 0..16 are divided by 16 (17 levels). The split is a fixed seeded 90/10
    permutation (1617 train / 180 test). ``threshold_binarize`` thresholds at 0.5 (see `ImageDataset`); ``size``
    resizes them (antialiased bilinear, so the values become continuous: ``size=32`` gives the 32x32 digits
    of GON's reference setup). ``root`` is unused.
    """
    from sklearn.datasets import load_digits

    images = rearrange(torch.from_numpy(load_digits().images).float() / 16.0, "n h w -> n 1 h w")
    chosen = images[split_indices(len(images), split, "digits")]
    levels = _images(1, 8, size, DIGIT_LEVELS)["levels"]
    return ImageDataset(_resized(chosen, size), threshold_binarize=threshold_binarize, levels=levels)


@declare_facts(lambda *, size=None, **_: _images(1, 25, size, None))
def lfw_faces(*, root: str | None = None, split: str = "train", size: PositiveInt | None = None) -> ImageDataset:
    """LFW faces as scikit-image ships them (embedded): items (1, 25, 25) in [0, 1], continuous values.

    ``skimage.data.lfw_subset()`` holds 100 faces followed by 100 background patches; only the faces are
    used (90 train / 10 test, a fixed seeded permutation). ``size`` resizes them (antialiased bilinear).
    ``root`` is unused.
    """
    from skimage.data import lfw_subset

    faces = rearrange(torch.from_numpy(lfw_subset()[:100]).float(), "n h w -> n 1 h w")
    faces = faces[split_indices(len(faces), split, "lfw-faces")]
    return ImageDataset(faces if size is None else center_square(faces, size))


# --- MNIST-style IDX files (torchvision's layout and parser) ---------------------------------------------


def _download(fetch, dataset: str, destination: Path, url: str) -> None:
    """Run torchvision's download, turning its failures into a message that says how to fetch by hand."""
    try:
        fetch()
    except Exception as error:  # URLError, RuntimeError (md5), OSError: all mean "didn't get the data"
        raise DataNotFoundError(
            f"could not download {dataset} into {destination}: {type(error).__name__}: {error}\n"
            f"Fetch the files by hand from {url} into {destination}, then run again without data.download."
        ) from error


def _idx_images(folder_name: str, dataset: str, root: str | None, split: str, download: bool) -> Tensor:
    """The uint8 images ``(n, 1, 28, 28)`` of one split of an MNIST-format dataset under ``root``."""
    import torchvision.datasets
    from torchvision.datasets.mnist import read_image_file
    from torchvision.datasets.utils import extract_archive

    check_split(split, dataset)
    source = getattr(torchvision.datasets, folder_name)  # MNIST / FashionMNIST: the folder is its name
    base = _data_root(root)
    raw = base / folder_name / "raw"
    stem = f"{'train' if split == 'train' else 't10k'}-images-idx3-ubyte"
    path, packed = raw / stem, raw / f"{stem}.gz"
    if download and not (path.exists() or packed.exists()):
        _download(
            lambda: source(str(base), train=split == "train", download=True), dataset, raw, source.mirrors[0]
        )
    if not path.exists() and packed.exists():
        try:  # unpack next to it, as torchvision's own download does
            extract_archive(str(packed), str(raw))
        except Exception as error:
            raise DataError(f"corrupt {dataset} file {packed}: {type(error).__name__}: {error}") from error
    if not path.exists():
        raise DataNotFoundError(
            f"{dataset} not found: no file {path}[.gz]\n"
            f"Expected layout: <root>/{folder_name}/raw/train-images-idx3-ubyte[.gz] and "
            f"<root>/{folder_name}/raw/t10k-images-idx3-ubyte[.gz] (root is {base}; set it with "
            f"--set data.root=PATH).\n"
            f"To get it: --set data.download=true, or fetch train-images-idx3-ubyte.gz and "
            f"t10k-images-idx3-ubyte.gz from {source.mirrors[0]} into {raw}/"
        )
    try:
        images = read_image_file(str(path))
    except Exception as error:  # torchvision asserts on a bad header; frombuffer/view fail on a short file
        raise DataError(
            f"corrupt {dataset} file {path}: not an IDX image file ({type(error).__name__}: {error}). "
            f"Delete it and fetch it again (--set data.download=true)."
        ) from error
    return rearrange(images, "n h w -> n 1 h w")


@renamed_arguments(binarize="threshold_binarize")
@declare_facts(lambda *, size=None, threshold_binarize=False, **_: _images(1, 28, size, 256,
                                                                         binarize=threshold_binarize,
                                                                         rounded=True))
def mnist(
    *,
    root: str | None = None,
    split: str = "train",
    threshold_binarize: bool = False,
    download: bool = False,
    size: PositiveInt | None = None,
) -> ImageDataset:
    """MNIST digits from <root>/MNIST/raw: items (1, 28, 28) in [0, 1].

    IDX files, read by torchvision.
    The official split: 60000 train / 10000 test. ``threshold_binarize`` thresholds at 0.5 (see `ImageDataset`);
    ``size`` resizes the images (antialiased bilinear; ``size=32`` as GON's reference code).
    Nothing is downloaded unless ``download=True``.
    """
    images = _idx_images("MNIST", "mnist", root, split, download)
    return ImageDataset(_resized(images, size), threshold_binarize=threshold_binarize)


@declare_facts(lambda *, size=None, **_: _images(1, 28, size, 256, rounded=True))
def fashion_mnist(
    *, root: str | None = None, split: str = "train", download: bool = False, size: PositiveInt | None = None
) -> ImageDataset:
    """Fashion-MNIST from <root>/FashionMNIST/raw: items (1, 28, 28) in [0, 1].

    IDX files, read by torchvision.
    The official split: 60000 train / 10000 test. ``size`` resizes the images (antialiased bilinear).
    Nothing is downloaded unless ``download=True``.
    """
    return ImageDataset(_resized(_idx_images("FashionMNIST", "fashion-mnist", root, split, download), size))


# --- CIFAR-10 pickles (torchvision's layout, read by a restricted unpickler) ----------------------------


def _numpy_rebuilders() -> dict[tuple[str, str], object]:
    """The globals a pickled numpy array names, under the module names numpy 1.x and 2.x write.

    ``_reconstruct`` (protocols 0-4; the official files are protocol 2 from numpy 1.x) and ``_frombuffer``
    (protocol 5) are taken from what numpy's own ``__reduce_ex__`` returns, wherever this numpy keeps them.
    """
    reconstruct, frombuffer = np.zeros(1).__reduce_ex__(2)[0], np.zeros(1).__reduce_ex__(5)[0]
    return {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        **{(f"numpy.{core}.multiarray", "_reconstruct"): reconstruct for core in ("core", "_core")},
        **{(f"numpy.{core}.numeric", "_frombuffer"): frombuffer for core in ("core", "_core")},
    }


class _RefusedGlobal(pickle.UnpicklingError):
    """A pickle named a global that a CIFAR-10 batch never holds."""


class _CifarBatchUnpickler(pickle.Unpickler):
    """Unpickles what a CIFAR-10 batch holds and nothing else: dicts, lists, strings, numbers, numpy arrays.

    Plain containers need no globals; a pickle runs code only by naming a callable (``find_class``), so
    every global except numpy's array rebuilders is refused before anything is called.
    """

    allowed: ClassVar[dict[tuple[str, str], object]] = _numpy_rebuilders()

    def find_class(self, module: str, name: str) -> object:
        try:
            return self.allowed[module, name]
        except KeyError:
            raise _RefusedGlobal(f"{module}.{name}") from None


def _cifar10_rows(path: Path) -> np.ndarray:
    """The uint8 rows ``(n, 3072)`` of one CIFAR-10 batch file (1024 red, 1024 green, 1024 blue bytes each)."""
    fix = "Delete the folder and fetch it again (--set data.download=true)."
    try:
        with open(path, "rb") as f:
            batch = _CifarBatchUnpickler(f, encoding="latin1").load()  # latin1: Python 2 wrote the official files
    except _RefusedGlobal as refused:
        raise DataError(
            f"refusing to load cifar10 file {path}: it names {refused}, which a CIFAR-10 batch never holds, and "
            f"unpickling it could run code. {fix}"
        ) from None
    except Exception as error:  # noqa: BLE001 — truncated, not a pickle, a numpy error: all mean a bad file
        raise DataError(f"corrupt cifar10 file {path}: {type(error).__name__}: {error}. {fix}") from error
    rows = batch.get("data") if isinstance(batch, dict) else None
    if not (isinstance(rows, np.ndarray) and rows.dtype == np.uint8 and rows.shape[1:] == (3 * 32 * 32,)):
        got = f"a {rows.dtype} array of shape {rows.shape}" if isinstance(rows, np.ndarray) else type(rows).__name__
        found = f"its 'data' is {got}" if isinstance(batch, dict) else f"it holds a {type(batch).__name__}"
        raise DataError(f"corrupt cifar10 file {path}: expected a dict whose 'data' is a uint8 array of rows of "
                        f"3072 bytes, but {found}. {fix}")
    return rows


@declare_facts(lambda **_: _images(3, 32, None, 256))
def cifar10(*, root: str | None = None, split: str = "train", download: bool = False) -> ImageDataset:
    """CIFAR-10 from <root>/cifar-10-batches-py: items (3, 32, 32) in [0, 1].

    Python pickles in torchvision's layout, read by an unpickler that admits only numpy arrays and plain
    data (a crafted file can't run code); files re-saved by hand load too, as no checksums are required.
    The official split: 50000 train / 10000 test. Nothing is downloaded unless ``download=True``.
    """
    from torchvision.datasets import CIFAR10

    check_split(split, "cifar10")
    base = _data_root(root)
    folder = base / CIFAR10.base_folder
    names = [name for name, _ in CIFAR10.train_list + CIFAR10.test_list] + [CIFAR10.meta["filename"]]
    files = [folder / name for name in names]
    if download and not all(f.exists() for f in files):
        # torchvision checks the archive's md5 sum and every file's before it unpickles any of them
        _download(
            lambda: CIFAR10(str(base), train=split == "train", download=True), "cifar10", base, CIFAR10.url
        )
    missing = [f.name for f in files if not f.exists()]
    if missing:
        raise DataNotFoundError(
            f"cifar10 not found: missing {', '.join(missing)} in {folder}\n"
            f"Expected layout: <root>/cifar-10-batches-py/data_batch_1..5, test_batch and batches.meta "
            f"(root is {base}; set it with --set data.root=PATH).\n"
            f"To get it: --set data.download=true, or fetch {CIFAR10.url} and unpack it into {base}/"
        )
    batches = CIFAR10.train_list if split == "train" else CIFAR10.test_list
    rows = np.concatenate([_cifar10_rows(folder / name) for name, _ in batches])
    return ImageDataset(rearrange(torch.from_numpy(rows), "n (c h w) -> n c h w", c=3, h=32, w=32))


# --- a folder of images --------------------------------------------------------------------------------


class ImageFolder(Dataset):
    """Image files decoded on access: item ``i`` is ``files[i]``, center-cropped and resized to ``size``.

    Items are float ``(3, size, size)`` (RGB; alpha dropped) or ``(1, size, size)`` with ``grey``, in
    [0, 1], continuous (resized). A file that can't be decoded raises a `DataError` naming it.
    """

    kind, levels = "images", None

    def __init__(self, files: list[Path], *, size: int, grey: bool = False):
        self.files = files
        self.size = check_size(size)
        self.grey = grey
        self.shape: tuple[int, ...] = (1 if grey else 3, size, size)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> Tensor:
        from PIL import Image

        path = self.files[index]
        try:
            with Image.open(path) as picture:
                pixels = np.array(picture.convert("L" if self.grey else "RGB"))
        except Exception as error:  # UnidentifiedImageError, truncated file, decompression bomb, ...
            raise DataError(f"corrupt image file {path}: {type(error).__name__}: {error}") from error
        x = torch.from_numpy(pixels).float() / 255.0
        x = rearrange(x, "h w -> 1 1 h w") if self.grey else rearrange(x, "h w c -> 1 c h w")
        return center_square(x, self.size)[0]

    def __repr__(self) -> str:
        return f"ImageFolder(n={len(self)}, shape={self.shape})"


@declare_facts(lambda *, size=64, grey=False, **_: {"shape": (1 if grey else 3, size, size), "levels": None,
                                                     "kind": "images"})
def image_folder(
    *, root: str | None = None, split: str = "train", size: PositiveInt = 64, grey: bool = False
) -> ImageFolder:
    """A folder of images (png, jpg, ..., recursive): items (3, size, size) in [0, 1].

    Each image is center-cropped to a square and resized (antialiased); ``grey`` gives (1, size, size).
    The split is a fixed seeded 90/10 permutation of the files sorted by their path below ``root``
    (adding files reshuffles it). Images are decoded when read, so the folder may be large.
    """
    check_split(split, "image-folder")
    if root is None:
        raise DataNotFoundError(
            "image-folder needs a folder of images: set it with --set data.root=PATH "
            f"(files ending in {', '.join(IMAGE_EXTENSIONS)}, in any subfolders)"
        )
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise DataNotFoundError(
            f"image folder {folder} does not exist or is not a folder: expected a folder holding image files "
            f"({', '.join(IMAGE_EXTENSIONS)}), in any subfolders; set it with --set data.root=PATH"
        )
    files = sorted(
        (p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()),
        key=lambda p: p.relative_to(folder).as_posix(),
    )
    if not files:
        raise DataNotFoundError(
            f"no images in {folder}: expected files ending in {', '.join(IMAGE_EXTENSIONS)}"
        )
    chosen = split_indices(len(files), split, "image-folder")
    if len(chosen) == 0:
        raise DataError(
            f"image folder {folder} holds a single image, so its {split!r} split is empty; use split=train"
        )
    return ImageFolder([files[i] for i in chosen], size=size, grey=grey)
