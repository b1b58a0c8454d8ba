"""IntAE: the adversarial interpolative autoencoder baseline of the AugIntAE paper."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real
from typing import Any, ClassVar

import torch

from metaaug._random import RandomState
from metaaug.augment.interpolate import slerp
from metaaug.constraints import Interval
from metaaug.generators.interpolative import AUTOENCODER_CONSTRAINTS, GeneratorStep, InterpolativeAutoencoder


class IntAE(InterpolativeAutoencoder):
    """Interpolative autoencoder: reconstruction plus realistic decoded interpolations.

    Each step encodes two augmented views ``A`` and ``B`` of an image,
    reconstructs both (L1) and decodes ``slerp(E(A), E(B), 1 - alpha)``; an LSGAN
    critic (the encoder layout with one output) scores those interpolations
    against real augmented images ``C``. Loss: ``L_recon / 2 + adversarial_weight
    * L_interp`` with ``L_recon`` the sum of the two reconstruction errors (L1
    summed over the pixels of an image, averaged over the batch) and
    ``L_interp`` the LSGAN generator loss. ``loss_curve_`` reports this loss
    divided by the number of pixels per image (per-pixel units, like the other
    models).

    Parameters
    ----------
    adversarial_weight : float, default 1.0
        Weight of the adversarial interpolation loss.
    latent_dim, hidden, architecture, augmentation, epochs, batch_size, lr, max_time, verbose, random_state, device
        As for :class:`AE` (this model being adversarial, ``lr`` stays constant).

    Attributes
    ----------
    image_shape_, architecture_, latent_dim_, encoder_, decoder_, loss_curve_, n_iter_, fit_time_
        As for :class:`AE`.
    loss_terms_ : dict of str to ndarray of float32
        The two parts of ``loss_curve_`` at each step: ``"reconstruction"``
        (``L_recon / 2`` per pixel) and ``"adversarial"`` (``adversarial_weight
        * L_interp`` per pixel).
    discriminator_ : the LSGAN critic
    k_ : float, final value of the critic-balance variable (not used by this loss)

    Notes
    -----
    Differences from the paper:

    * Default ``hidden=32``, ``epochs=20`` (CPU budget); ``hidden=64`` is the paper's.
    * The critic uses Adam (lr as the autoencoder, betas 0.5 / 0.999); being
      adversarial, the model keeps a constant learning rate.
    * The reconstruction term is read as a per-image pixel sum (so at the
      default ``adversarial_weight=1`` the adversarial term is ``1 / (C H W)``
      of a per-pixel L1): with a per-pixel mean weighed 1:1 against the LSGAN
      loss, training on Omniglot collapsed to decoding noise (measured in
      ``docs/augintae.md``, "Differences from the papers").
    """

    _parameter_constraints: ClassVar[dict[str, Sequence[Any]]] = {
        "adversarial_weight": [Interval(Real, 0, None)],
        **AUTOENCODER_CONSTRAINTS,
    }

    def __init__(
        self,
        adversarial_weight: float = 1.0,
        latent_dim: int | None = None,
        hidden: int = 32,
        architecture: str = "auto",
        augmentation: str = "auto",
        epochs: int = 20,
        batch_size: int = 64,
        lr: float = 1e-3,
        max_time: float | None = None,
        verbose: bool = True,
        random_state: RandomState = None,
        device: str = "auto",
    ) -> None:
        self.adversarial_weight = adversarial_weight
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.architecture = architecture
        self.augmentation = augmentation
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.max_time = max_time
        self.verbose = verbose
        self.random_state = random_state
        self.device = device

    def _uses_adversary(self) -> bool:
        return True

    def _generator_loss(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, alpha: torch.Tensor) -> GeneratorStep:
        """Reconstruct ``a`` and ``b``; the critic judges their decoded interpolation against ``c``."""
        n = len(a)
        za, zb = self.encoder_(torch.cat([a, b])).split(n)
        decoded = self.decoder_(torch.cat([za, zb, slerp(za, zb, 1 - alpha)]))
        reconstruction, interpolation = decoded[: 2 * n], decoded[2 * n :]
        recon_loss = (reconstruction - torch.cat([a, b])).abs().mean()  # = (L_A + L_B) / 2 per pixel
        adversarial = (self.discriminator_(interpolation).view(-1) - 1).pow(2).mean()
        # L_recon is a per-image *sum* of absolute errors; dividing the adversarial term by the pixel
        # count instead keeps the loss per pixel with the same gradients up to a factor Adam ignores.
        # Weighing a per-pixel mean against it 1:1 lets the critic swamp reconstruction (the model
        # decoded noise on the dev split).
        pixels = a[0].numel()
        weighted = self.adversarial_weight * adversarial / pixels
        return GeneratorStep(
            recon_loss + weighted, {"reconstruction": recon_loss, "adversarial": weighted}, interpolation, c
        )
