"""genzoo's datasets, registered under kind "dataset" by the hook below (``zoo.data`` is a built-in plugin).

Embedded (no download, ship with scikit-learn / scikit-image): ``digits``, ``lfw-faces``, and the single
signals ``image`` (with ``camera`` and ``astronaut``), ``audio`` and ``video``. Data people bring, from ``root``:
``mnist``, ``fashion-mnist``, ``cifar10`` (torchvision's layout; ``download=True`` fetches them) and
``image-folder``. Every factory is ``factory(*, root=None, split="train", **options) -> Dataset``; items are
float tensors without labels, and every dataset states its facts (``FACTS``: ``shape``, ``levels``,
``kind``), which each factory declares from its options (``declare_facts``) so that recipes read sizes from
the data without loading it. A plugin registers the data its models need the same way (the zoo_nerf
plugin: the multi-view scenes ``procedural-scene`` and ``blender``).
"""

from __future__ import annotations

from zoo import hookimpl
from zoo._aliases import moved
from zoo.data.core import (
    DATA_KINDS,
    FACTS,
    SPLITS,
    DataError,
    DataNotFoundError,
    ImageDataset,
    SignalDataset,
    declare_facts,
)
from zoo.data.images import ImageFolder, cifar10, digits, fashion_mnist, image_folder, lfw_faces, mnist
from zoo.data.signals import astronaut, audio, camera, image, video

__all__ = [
    "DATASETS",
    "DATA_KINDS",
    "FACTS",
    "SPLITS",
    "DataError",
    "DataNotFoundError",
    "ImageDataset",
    "ImageFolder",
    "SignalDataset",
    "declare_facts",
]

#: registry name -> (factory, paper or source)
DATASETS = {
    "digits": (digits, "Alpaydin & Kaynak 1998, UCI Optical Recognition of Handwritten Digits"),
    "lfw-faces": (lfw_faces, "Huang et al. 2007, Labeled Faces in the Wild"),
    "mnist": (mnist, "LeCun et al. 1998, Gradient-Based Learning Applied to Document Recognition"),
    "fashion-mnist": (fashion_mnist, "Xiao et al. 2017, Fashion-MNIST, arXiv:1708.07747"),
    "cifar10": (cifar10, "Krizhevsky 2009, Learning Multiple Layers of Features from Tiny Images"),
    "image-folder": (image_folder, None),
    "image": (image, "scikit-image's bundled images (skimage.data)"),
    "camera": (camera, "scikit-image's bundled images (skimage.data)"),
    "astronaut": (astronaut, "scikit-image's bundled images (skimage.data)"),
    "audio": (audio, None),
    "video": (video, "scikit-image's bundled clip (skimage/data/no_time_for_that_tiny.gif), or a GIF/MP4 file"),
}


@hookimpl
def register_components(register):
    for name, (factory, paper) in DATASETS.items():
        register("dataset", name, factory, paper=paper)

# zoo.data.ViewDataset (and the scene factories) until 0.3: the scenes are the zoo_nerf plugin's
__getattr__ = moved("zoo.data", dict.fromkeys(["ViewDataset", "blender_scene", "procedural_scene"], "zoo_nerf.scenes"))
