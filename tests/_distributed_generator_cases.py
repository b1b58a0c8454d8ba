"""The generators' data-parallel fits, run on every rank by tests/_distributed_worker.py."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from metaaug import AE, LASIUM, IntAE, LoFGAN, MetaFAVAE
from metaaug.data.digits import load_digits

# 99 images in batches of 32: the last batch (3 images) is too small to split, so each rank trains on all of it
AUTOENCODER = {"hidden": 4, "latent_dim": 4, "epochs": 1, "batch_size": 32, "verbose": False, "device": "cpu"}
VAE_GAN = {"hidden": 4, "latent_dim": 4, "epochs": 1, "batch_size": 32, "verbose": False, "device": "cpu"}
LOFGAN = {
    "gen_channels": (8, 8),
    "disc_channels": 8,
    "disc_blocks": 1,
    "epochs": 0.06,  # 3 steps of 4 tasks (2 per rank) on 200 images
    "meta_batch_size": 4,
    "verbose": False,
    "device": "cpu",
}
METAFAVAE = {
    "n_iterations": 2,
    "inner_iterations": 1,
    "n_seeds": 3,
    "latent_dim": 4,
    "noise_dim": 4,
    "hidden": 4,
    "verbose": False,
    "device": "cpu",
}


def _state(*modules: nn.Module) -> dict[str, torch.Tensor]:
    return {f"{i}.{k}": v.detach().clone() for i, m in enumerate(modules) for k, v in m.state_dict().items()}


def _case(fit: Callable[[], Any], networks: Callable[[Any], list[nn.Module]]) -> dict[str, Any]:
    start = time.perf_counter()
    model = fit()
    return {
        "state": _state(*networks(model)),
        "loss_curve": model.loss_curve_,
        "n_iter": model.n_iter_,
        "seconds": time.perf_counter() - start,
    }


def generator_cases() -> dict[str, Any]:
    """Each case's result on this rank (read by tests/test_distributed_generators.py)."""
    X, y = load_digits()
    autoencoder = X[:99]
    return {
        "ae": _case(
            lambda: AE(random_state=0, **AUTOENCODER).fit(autoencoder),
            lambda m: [m.encoder_, m.decoder_],
        ),
        "intae": _case(
            lambda: IntAE(random_state=0, **AUTOENCODER).fit(autoencoder),
            lambda m: [m.encoder_, m.decoder_, m.discriminator_],
        ),
        "lasium_vae": _case(
            lambda: LASIUM(backend="vae", random_state=0, **VAE_GAN).fit(X[:96]),
            lambda m: [m.backend_],
        ),
        "lasium_gan": _case(
            lambda: LASIUM(backend="gan", random_state=0, **VAE_GAN).fit(X[:96]),
            lambda m: [m.backend_],
        ),
        "lofgan": _case(
            lambda: LoFGAN(random_state=0, **LOFGAN).fit(X[:200], y[:200]),
            lambda m: [m.generator_, m.discriminator_],
        ),
        "metafavae": _case(
            lambda: MetaFAVAE(random_state=0, **METAFAVAE).fit(X[:200], y[:200]),
            lambda m: [m.nets_],
        ),
    }
