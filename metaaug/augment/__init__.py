"""Batched augmentation and interpolation shared by several methods."""

from metaaug.augment.affine import (
    AffineRanges,
    affine_matrices,
    apply_params,
    augmentation_triplets,
    identity_params,
    interpolate_params,
    random_augment,
    sample_params,
)
from metaaug.augment.crops import colour_distortion, random_resized_crop
from metaaug.augment.interpolate import check_alpha, lerp, slerp
from metaaug.augment.rendering import gaussian_kernel, soften_strokes
from metaaug.augment.shifts import random_shift, shift_images

__all__ = [
    "AffineRanges",
    "affine_matrices",
    "apply_params",
    "augmentation_triplets",
    "check_alpha",
    "colour_distortion",
    "gaussian_kernel",
    "identity_params",
    "interpolate_params",
    "lerp",
    "random_augment",
    "random_resized_crop",
    "random_shift",
    "sample_params",
    "shift_images",
    "slerp",
    "soften_strokes",
]
