"""AE: the plain autoencoder baseline of the IntAE / AugIntAE papers."""

from __future__ import annotations

import torch

from metaaug._random import RandomState
from metaaug.generators.interpolative import GeneratorStep, InterpolativeAutoencoder


class AE(InterpolativeAutoencoder):
    """Plain autoencoder baseline of the IntAE / AugIntAE papers.

    Reconstructs (L1) the alpha-mixed augmented image ``C`` of each training
    triplet, so it sees the same augmented data as AugIntAE but is never asked
    to interpolate. New images are still decoded latent interpolations.

    Parameters
    ----------
    latent_dim : int or None, default None
        Latent size; None picks the paper's (32 for "infogan", 512 for "dcgan").
    hidden : int, default 32
        Base channel count, the network width (the paper's InfoGAN layout is
        ``hidden=64``).
    architecture : {"auto", "infogan", "dcgan"}, default "auto"
        "auto": "infogan" up to 28 px, "dcgan" beyond (32, 64, 128 px).
    augmentation : {"auto", "characters", "natural", "none"}, default "auto"
        Ranges of the training augmentations (:class:`metaaug.augment.AffineRanges`);
        "auto" is "characters" for one channel, "natural" otherwise.
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

    Attributes
    ----------
    image_shape_ : (C, H, W)
    architecture_, latent_dim_ : the resolved layout and latent size
    encoder_, decoder_ : the trained networks (``metaaug.nets.autoencoders``)
    loss_curve_ : ndarray of float32, the training loss at each optimisation step
    n_iter_, fit_time_ : optimisation steps run and seconds taken
    k_ : float, the critic-balance variable (stays 1.0 without a critic)

    Notes
    -----
    Differences from the paper:

    * Default ``hidden=32`` (half the InfoGAN widths) and ``epochs=20`` so that a
      fit takes minutes on a 2-core CPU; ``hidden=64`` gives the paper's layout.
    * Interpolation always uses SLERP on unit-norm latents for all three models.

    Measured reconstruction errors, faithfulness and speed: ``docs/augintae.md``.

    Examples
    --------
    >>> from metaaug import AE
    >>> model = AE(epochs=1, verbose=False).fit(X_unlabeled)          # doctest: +SKIP
    >>> images = model.generate(seeds, n=10, random_state=0)          # doctest: +SKIP
    """

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

    def _generator_loss(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, alpha: torch.Tensor) -> GeneratorStep:
        """L1 reconstruction of the mixed view ``c``."""
        output = self.decoder_(self.encoder_(c))
        return GeneratorStep((output - c).abs().mean(), {})
