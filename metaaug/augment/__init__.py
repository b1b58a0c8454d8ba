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
from metaaug.augment.interpolate import check_alpha, lerp, slerp

__all__ = [
    "AffineRanges", "affine_matrices", "apply_params", "augmentation_triplets", "check_alpha",
    "identity_params", "interpolate_params", "lerp", "random_augment", "sample_params", "slerp",
]
