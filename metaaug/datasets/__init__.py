"""The papers' RGB benchmarks as lazy torch Datasets, read from files the user has.

Every loader returns a map-style ``Dataset`` of ``(image, label)``, the image
a ``(3, H, W)`` uint8 tensor (before ``transform``), with ``targets`` and
``classes``; they plug into :class:`metaaug.data.LabeledTaskSampler` and the
estimators' ``fit``. See the docs page "Datasets" for layouts and splits.
"""

from metaaug.datasets.animal_faces import ANIMAL_FACES_SPLITS, load_animal_faces
from metaaug.datasets.celeba import (
    CACTUS_ATTRIBUTE_SPLITS,
    CelebAAttributeTaskSampler,
    CelebADataset,
    load_celeba,
)
from metaaug.datasets.cifar_fs import CIFAR_FS_SPLITS, load_cifar_fs
from metaaug.datasets.flowers102 import N_SEEN_FLOWERS, load_flowers102
from metaaug.datasets.folder import ArrayImageDataset, ImageListDataset, to_tensors
from metaaug.datasets.mini_imagenet import MINI_IMAGENET_SPLITS, load_mini_imagenet

__all__ = [
    "ANIMAL_FACES_SPLITS",
    "CACTUS_ATTRIBUTE_SPLITS",
    "CIFAR_FS_SPLITS",
    "MINI_IMAGENET_SPLITS",
    "N_SEEN_FLOWERS",
    "ArrayImageDataset",
    "CelebAAttributeTaskSampler",
    "CelebADataset",
    "ImageListDataset",
    "load_animal_faces",
    "load_celeba",
    "load_cifar_fs",
    "load_flowers102",
    "load_mini_imagenet",
    "to_tensors",
]
