"""AE: the plain autoencoder baseline of the IntAE / AugIntAE papers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from metaaug._random import RandomState
from metaaug.generators.interpolative import AUTOENCODER_CONSTRAINTS, GeneratorStep, InterpolativeAutoencoder


class AE(InterpolativeAutoencoder):
    """Plain autoencoder baseline of the IntAE / AugIntAE papers.

    Reconstructs (L1) the alpha-mixed augmented image ``C`` of each training
    triplet, so it sees the same augmented data as AugIntAE but is never asked
    to interpolate. New images are still decoded latent interpolations.

    The AugIntAE paper trains this baseline with an auxiliary LSGAN loss on the
    reconstructions (``adversarial=True``, weighted ``k * gamma`` as for all
    its adversarial models). The default is the plain L1 autoencoder: on the
    Omniglot dev split the paper's variant lowered FID but was no more
    faithful to the seeds' class and gave no larger downstream gain (both
    within their 95% intervals) for 2.3 times the fit time
    (``docs/augintae.md``, "Paper-faithful variants"); the L1 autoencoder is
    also the encoder that CACTUs and LoFGAN's pseudo-labels fit.

    Parameters
    ----------
    latent_dim : int or None, default None
        Latent size; None picks the paper's (32 for "infogan", 512 for "dcgan").
    hidden : int, default 32
        Base channel count, the network width (the paper's InfoGAN layout is
        ``hidden=64``).
    architecture : {"auto", "infogan", "dcgan"}, default "auto"
        "auto": "infogan" up to 28 px, "dcgan" beyond (any sides >= 16: 32, 64, 84, 105, 128 px, non-square too).
    augmentation : {"auto", "characters", "characters-no-shear", "natural", "none"}, default "auto"
        Ranges of the training augmentations (:class:`metaaug.augment.AffineRanges`);
        "auto" is "characters" for one channel, "natural" otherwise;
        "characters-no-shear" is "characters" without the shear.
    epochs : int, default 20
        Passes over ``X``.
    batch_size : int, default 64
        Images per optimisation step.
    lr : float, default 1e-3
        Adam learning rate, divided by 10 at 35% and 70% of training.
    max_time : float or None, default None
        Stop after this many seconds (the learning-rate drops then follow the
        elapsed time).
    verbose : bool, default True
        Show a tqdm progress bar.
    random_state : None, int or Generator, default None
        Same value, same model and outputs.
    device : "auto", "cpu", "cuda", ..., default "auto"
        "auto" uses CUDA when available.
    adversarial : bool, default False
        Add the paper's auxiliary LSGAN term on the reconstructions, weighted
        ``k * gamma``: ``gamma = ||grad L_recon|| / ||grad L_adv||`` per image
        (gradients with respect to the decoded image) and ``k <- clip(k - 0.001
        (1 - (D(real) - D(fake))), 0, 1)`` from 1. Trains an LSGAN critic and
        keeps the learning rate constant.

    Attributes
    ----------
    image_shape_ : (C, H, W)
    architecture_, latent_dim_ : the resolved layout and latent size
    encoder_, decoder_ : the trained networks (``metaaug.nets.autoencoders``)
    loss_curve_ : ndarray of float32, the training loss at each optimisation step
    n_iter_, fit_time_ : optimisation steps run and seconds taken
    loss_terms_ : dict of str to ndarray of float32
        Only with ``adversarial=True``: ``"reconstruction"`` (the L1) and
        ``"adversarial"`` (``k * gamma`` times the LSGAN loss) at each step.
    discriminator_ : the LSGAN critic (only with ``adversarial=True``)
    k_ : float, final value of ``k`` (only with ``adversarial=True``)

    Notes
    -----
    Differences from the paper:

    * Default ``hidden=32`` (half the InfoGAN widths) and ``epochs=20`` so that a
      fit takes minutes on a 2-core CPU; ``hidden=64`` gives the paper's layout.
    * Interpolation always uses SLERP on unit-norm latents for all three models.
    * No auxiliary GAN loss by default (``adversarial=False``); the paper's
      baseline has it (``adversarial=True``). Its ``gamma`` comes from
      gradients with respect to the decoded images, one per image (the paper
      does not say where).

    Measured reconstruction errors, faithfulness and speed: ``docs/augintae.md``.

    Examples
    --------
    >>> from metaaug import AE
    >>> model = AE(epochs=1, verbose=False).fit(X_unlabeled)          # doctest: +SKIP
    >>> images = model.generate(seeds, n=10, random_state=0)          # doctest: +SKIP
    """

    _parameter_constraints: ClassVar[dict[str, Sequence[Any]]] = {
        "adversarial": ["boolean"],
        **AUTOENCODER_CONSTRAINTS,
    }

    def __init__(
        self,
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
        adversarial: bool = False,
    ) -> None:
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
        self.adversarial = adversarial

    def _generator_loss(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, alpha: torch.Tensor) -> GeneratorStep:
        """L1 reconstruction of the mixed view ``c`` (plus the balanced LSGAN term with ``adversarial``)."""
        output = self.decoder_(self.encoder_(c))
        if not self.adversarial:
            return GeneratorStep((output - c).abs().mean(), {})
        per_image = (output - c).abs().flatten(1).mean(1)
        terms = {"reconstruction": per_image.mean(), "adversarial": self._balanced_adversarial(output, per_image)}
        return GeneratorStep(terms["reconstruction"] + terms["adversarial"], terms, output, c)

    def _uses_adversary(self) -> bool:
        return bool(self.adversarial)

    def _uses_k(self) -> bool:
        return bool(self.adversarial)
