"""AugIntAE: the augmentation-interpolative autoencoder (Wertheimer, Poursaeed & Hariharan)."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real
from typing import Any, ClassVar

import torch
from torch import nn

from metaaug._random import RandomState
from metaaug.augment.interpolate import slerp
from metaaug.constraints import Interval
from metaaug.generators.interpolative import AUTOENCODER_CONSTRAINTS, GeneratorStep, InterpolativeAutoencoder
from metaaug.nets.autoencoders import Encoder
from metaaug.nets.modes import eval_mode


class AugIntAE(InterpolativeAutoencoder):
    """Augmentation-interpolative autoencoder (Wertheimer, Poursaeed & Hariharan).

    Each training image ``x`` gives a triplet ``A = f(x; rho1)``, ``B = f(x;
    rho2)``, ``C = f(x; alpha rho1 + (1 - alpha) rho2)``; the model learns to
    decode the latent mix into the mixed augmentation:
    ``L = |C - G(slerp(E(A), E(B), 1 - alpha))|_1`` (the latent weight ``1 -
    alpha`` matches ``alpha`` on ``A``'s parameters). Because interpolating
    latents then means smoothly changing a view of the same object, decoded
    interpolations between two seeds of a never-seen class stay in that class.

    Parameters
    ----------
    reconstruction_weight : float, default 0.0
        Weight of an extra L1 reconstruction of ``A`` and ``B``. 0 is the
        papers' interpolation-only loss. With 1.0 the decoder draws strokes
        more exactly, which raises the class faithfulness of the generated
        images for a longer fit (measured in ``docs/augintae.md``, "Class
        faithfulness").
    adversarial : bool, default False
        Add an LSGAN term on the decoded interpolations with the paper's
        dynamic weight ``k * gamma``: ``gamma = ||grad L_recon|| / ||grad
        L_adv||`` per image (gradients with respect to the decoded image) and
        ``k <- clip(k - 0.001 (1 - (D(real) - D(fake))), 0, 1)``, ``k`` from 1.
    perceptual : bool, default False
        Add the "autoperceptual" loss: L1 between the frozen current encoder's
        feature maps of output and target, weighted equally with the pixel L1.
    latent_dim, hidden, architecture, augmentation, epochs, batch_size, lr, max_time, verbose, random_state, device
        As for :class:`AE`.

    Attributes
    ----------
    image_shape_, architecture_, latent_dim_, encoder_, decoder_, loss_curve_, n_iter_, fit_time_
        As for :class:`AE`.
    loss_terms_ : dict of str to ndarray of float32
        Only when the loss has several parts: each part of ``loss_curve_`` at
        each step as it enters it: ``"interpolation"`` (pixel L1 to ``C``),
        ``"perceptual"`` (its autoperceptual term), ``"reconstruction"``
        (``reconstruction_weight`` times the reconstruction loss, autoperceptual
        part included) and ``"adversarial"`` (``k * gamma`` times the LSGAN
        loss), those the parameters switch on.
    discriminator_ : the LSGAN critic (only with ``adversarial=True``)
    k_ : float, final value of ``k``

    Notes
    -----
    Differences from the paper:

    * Default ``hidden=32`` (half the InfoGAN widths) and ``epochs=20`` so a fit
      takes minutes on a 2-core CPU; ``hidden=64`` is the paper's layout.
    * The autoperceptual features are the encoder's intermediate block outputs,
      averaged over blocks.
    * The critic uses Adam (betas 0.5 / 0.999); with ``adversarial=True`` the
      learning rate stays constant (the 10x drops at 35% / 70% apply only to
      non-adversarial training, as in the paper).
    * ``generate`` draws ``alpha ~ U(0, 1)`` by default; pass ``alpha=0.5`` (e.g.
      through ``AugmentedDataset(..., generate_kwargs={"alpha": 0.5})``) for the
      paper's hallucination setting.

    Measured reconstruction errors, hallucination accuracies, faithfulness and
    speed: ``docs/augintae.md``.

    Examples
    --------
    >>> from torch.utils.data import DataLoader
    >>> from metaaug import AugIntAE
    >>> from metaaug.data import AugmentedDataset
    >>> model = AugIntAE().fit(X_unlabeled)                                  # doctest: +SKIP
    >>> loader = DataLoader(AugmentedDataset((X, y), model, generate_kwargs={"alpha": 0.5}),
    ...                     batch_size=64, shuffle=True)                     # doctest: +SKIP
    """

    _parameter_constraints: ClassVar[dict[str, Sequence[Any]]] = {
        "reconstruction_weight": [Interval(Real, 0, None)],
        "adversarial": ["boolean"],
        "perceptual": ["boolean"],
        **AUTOENCODER_CONSTRAINTS,
    }

    def __init__(
        self,
        reconstruction_weight: float = 0.0,
        adversarial: bool = False,
        perceptual: bool = False,
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
        self.reconstruction_weight = reconstruction_weight
        self.adversarial = adversarial
        self.perceptual = perceptual
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
        return bool(self.adversarial)

    # ------------------------------------------------------------------ losses
    def _generator_loss(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, alpha: torch.Tensor) -> GeneratorStep:
        """Decode the latent mix of ``a`` and ``b`` into ``c``, plus the optional terms."""
        n = len(a)
        za, zb = self.encoder_(torch.cat([a, b])).split(n)
        mixed = slerp(za, zb, 1 - alpha)
        with_recon = self.reconstruction_weight > 0
        decoded = self.decoder_(torch.cat([mixed, za, zb]) if with_recon else mixed)
        interpolation = decoded[:n]
        per_image = (interpolation - c).abs().flatten(1).mean(1)
        terms = {"interpolation": per_image.mean()}
        loss = terms["interpolation"]
        if self.perceptual:
            terms["perceptual"] = self._autoperceptual(interpolation, c)
            loss = loss + terms["perceptual"]
        if with_recon:
            reconstruction = decoded[n:]
            recon_loss = (reconstruction - torch.cat([a, b])).abs().mean()
            if self.perceptual:
                recon_loss = recon_loss + self._autoperceptual(reconstruction, torch.cat([a, b]))
            terms["reconstruction"] = self.reconstruction_weight * recon_loss
            loss = loss + terms["reconstruction"]
        if not self.adversarial:
            return GeneratorStep(loss, terms if len(terms) > 1 else {})
        terms["adversarial"] = self._adversarial_term(interpolation, per_image)
        loss = loss + terms["adversarial"]
        return GeneratorStep(loss, terms, interpolation, c)

    def _autoperceptual(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """L1 between the frozen current encoder's feature maps of ``output`` and ``target``.

        The encoder's parameters are detached (gradients reach ``output`` only)
        and it runs in eval mode, so the feature extractor is not trained by
        this term and its BatchNorm statistics stay untouched.
        """
        frozen = {f"encoder.{name}": p.detach() for name, p in self.encoder_.named_parameters()}
        with eval_mode(self.encoder_):
            maps = torch.func.functional_call(
                _FeatureView(self.encoder_), frozen, (torch.cat([output, target]),), strict=False
            )
        return sum((fo - ft.detach()).abs().mean() for fo, ft in (m.chunk(2) for m in maps)) / len(maps)

    def _adversarial_term(self, fake: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
        """k * gamma * LSGAN generator loss, gamma = ||grad L_recon|| / ||grad L_adv|| per image.

        ``reconstruction`` holds the per-image reconstruction losses of ``fake``.
        """
        critic = self.discriminator_
        adversarial = (critic(fake).view(-1) - 1).pow(2)
        grad_recon = torch.autograd.grad(reconstruction.sum(), fake, retain_graph=True)[0]
        grad_adv = torch.autograd.grad(adversarial.sum(), fake, retain_graph=True)[0]
        gamma = grad_recon.flatten(1).norm(dim=1) / grad_adv.flatten(1).norm(dim=1).clamp_min(1e-8)
        return (self._k * gamma.detach() * adversarial).mean()


class _FeatureView(nn.Module):
    """Calls an encoder's ``features`` as ``forward`` (for ``functional_call``)."""

    def __init__(self, encoder: Encoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.encoder.features(x)
