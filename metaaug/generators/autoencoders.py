"""AE, IntAE and AugIntAE: interpolative autoencoders as few-shot generators and augmenters.

All three share :class:`InterpolativeAutoencoder`
(:mod:`metaaug.generators.interpolative`): an encoder onto the unit sphere, a
generator, batched training on augmentation triplets (see
:func:`metaaug.augment.augmentation_triplets`) and the same sampling API. New
images of a class are decoded spherical interpolations between the latents of
two of its seeds. Each method lives in its own module (``ae``, ``intae``,
``augintae``); this one gathers them.
"""

from metaaug.generators.ae import AE
from metaaug.generators.augintae import AugIntAE
from metaaug.generators.intae import IntAE
from metaaug.generators.interpolative import InterpolativeAutoencoder

__all__ = ["AE", "AugIntAE", "IntAE", "InterpolativeAutoencoder"]
