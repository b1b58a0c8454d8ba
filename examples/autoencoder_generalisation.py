"""Reconstruction error on training vs novel domains: AE, IntAE, AugIntAE and a same-size VAE.

The IntAE / AugIntAE papers' Table 1 kind: models trained on the 6 training
alphabets of the Omniglot dev split (unlabeled), then the mean per-pixel L1
reconstruction error is measured on training-alphabet images, on the novel
alphabets (Korean + Tagalog) and on sklearn digits (upscaled to 20 px and
padded to 28, MNIST style). Autoencoders should generalise to the novel
domains far better than a VAE of the same size.

Fitted models are cached (``--models-dir``) and reused by
``examples/interpolation_strips.py`` and ``examples/data_hallucination.py``.

    python examples/autoencoder_generalisation.py --models-dir /tmp/metaaug_models

Each model can be fitted in its own run (``--models AE --no-doc``), the last
run (all models, loaded from the cache) writes the docs table; fit statistics
are kept next to each cached model (``.json``), so the table shows them too.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from metaaug import AE, AugIntAE, IntAE
from metaaug._random import check_rng, torch_seeded
from metaaug.base import TrainingBudget
from metaaug.data import load_dev_split, load_digits
from metaaug.metrics.features import default_cache_dir
from metaaug.nets.autoencoders import Encoder, Generator
from metaaug.reporting import markdown_table, provenance, publish_section
from metaaug.augment import augmentation_triplets

MODEL_CLASSES = {"AE": AE, "IntAE": IntAE, "AugIntAE": AugIntAE}
# named non-default configurations: (class, constructor parameters)
MODEL_VARIANTS = {"AugIntAE+rec": (AugIntAE, {"reconstruction_weight": 1.0}),
                  "AugIntAE+perc": (AugIntAE, {"perceptual": True})}


def model_spec(name: str) -> tuple[type, dict]:
    """The estimator class and non-default parameters behind a model name."""
    return MODEL_VARIANTS[name] if name in MODEL_VARIANTS else (MODEL_CLASSES[name], {})


def default_models_dir() -> Path:
    return default_cache_dir() / "autoencoders"


def add_model_arguments(parser: argparse.ArgumentParser, epochs_flag: str = "--epochs",
                        epochs_help: str = "which cached autoencoders (fitted with these epochs)") -> None:
    """``--models-dir``, the epochs flag and ``--width``: which cached autoencoders a script uses."""
    parser.add_argument("--models-dir", type=Path, default=default_models_dir())
    parser.add_argument(epochs_flag, type=int, default=20, help=epochs_help)
    parser.add_argument("--width", type=int, default=32)


def model_path(models_dir: Path, name: str, epochs: int, width: int) -> Path:
    return models_dir / f"{name}_e{epochs}_w{width}.pt"


def fit_stats_path(models_dir: Path, name: str, epochs: int, width: int) -> Path:
    return model_path(models_dir, name, epochs, width).with_suffix(".json")


def _timed_fit(model, X: torch.Tensor) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(X)
    return time.perf_counter() - wall, time.process_time() - cpu


def _fit_row(name: str, epochs: int, steps, wall: float, cpu: float, final_loss: str) -> dict:
    return {"model": name, "epochs": epochs, "steps": steps, "threads": torch.get_num_threads(),
            "fit wall s": f"{wall:.0f}", "fit CPU s": f"{cpu:.0f}", "s / epoch": f"{wall / epochs:.1f}",
            "final loss": final_loss}


class SameSizeVAE:
    """A VAE with the autoencoders' encoder/generator (the encoder emits mean and log-variance).

    Trained like :class:`metaaug.AE` (same augmented images ``C``, Adam 1e-3
    with 10x drops at 35% / 70%, same epochs), with a Bernoulli likelihood
    (binary cross-entropy, summed over pixels) plus the KL term. Reconstruction
    decodes the posterior mean.
    """

    def __init__(self, latent_dim: int = 32, width: int = 32, epochs: int = 10, batch_size: int = 64,
                 random_state: int = 0) -> None:
        self.latent_dim, self.width, self.epochs = latent_dim, width, epochs
        self.batch_size, self.random_state = batch_size, random_state

    def fit(self, X: torch.Tensor) -> SameSizeVAE:
        shape = tuple(X.shape[1:])
        self.shape_ = shape
        with torch_seeded(check_rng(self.random_state)):
            self.encoder_ = Encoder(shape, 2 * self.latent_dim, "infogan", self.width, normalize=False)
            self.decoder_ = Generator(shape, self.latent_dim, "infogan", self.width)
            params = list(self.encoder_.parameters()) + list(self.decoder_.parameters())
            optimiser = torch.optim.Adam(params, lr=1e-3)
            steps_per_epoch = math.ceil(len(X) / self.batch_size)
            n_steps = self.epochs * steps_per_epoch
            order = torch.randperm(len(X))
            for step in TrainingBudget(n_steps, None, "VAE", verbose=False):
                if step in (int(0.35 * n_steps), int(0.70 * n_steps)):
                    for group in optimiser.param_groups:
                        group["lr"] *= 0.1
                position = step % steps_per_epoch
                if position == 0 and step > 0:
                    order = torch.randperm(len(X))
                batch = X[order[position * self.batch_size:(position + 1) * self.batch_size]]
                _, _, c, _ = augmentation_triplets(batch)
                mean, log_var = self.encoder_(c).chunk(2, dim=1)
                z = mean + torch.randn_like(mean) * (0.5 * log_var).exp()
                output = self.decoder_(z)
                bce = F.binary_cross_entropy(output, c, reduction="sum") / len(c)
                kl = -0.5 * (1 + log_var - mean.pow(2) - log_var.exp()).sum() / len(c)
                optimiser.zero_grad(set_to_none=True)
                (bce + kl).backward()
                optimiser.step()
        self.encoder_.eval()
        self.decoder_.eval()
        return self

    def save(self, path: Path) -> None:
        torch.save({"encoder": self.encoder_.state_dict(), "decoder": self.decoder_.state_dict(),
                    "shape": list(self.shape_)}, path)

    @classmethod
    def load(cls, path: Path, latent_dim: int = 32, width: int = 32) -> SameSizeVAE:
        state = torch.load(path, weights_only=True)
        vae = cls(latent_dim=latent_dim, width=width)
        shape = tuple(state["shape"])
        vae.shape_ = shape
        vae.encoder_ = Encoder(shape, 2 * latent_dim, "infogan", width, normalize=False)
        vae.decoder_ = Generator(shape, latent_dim, "infogan", width)
        vae.encoder_.load_state_dict(state["encoder"])
        vae.decoder_.load_state_dict(state["decoder"])
        vae.encoder_.eval()
        vae.decoder_.eval()
        return vae

    def reconstruction_error(self, X: torch.Tensor) -> float:
        with torch.no_grad():
            errors = [(self.decoder_(self.encoder_(X[i:i + 1024]).chunk(2, dim=1)[0]) - X[i:i + 1024]).abs()
                      for i in range(0, len(X), 1024)]
        return float(torch.cat(errors).mean())


def digits_as_characters() -> torch.Tensor:
    """sklearn digits upscaled to 20x20 and padded to 28x28 (ink 1 on 0, like MNIST)."""
    X, _ = load_digits()
    return F.pad(F.interpolate(X, size=(20, 20), mode="bilinear", align_corners=False).clamp(0, 1), (4, 4, 4, 4))


def load_or_fit_models(names: list[str], X_train: torch.Tensor, epochs: int, width: int, models_dir: Path,
                       refit: bool = False) -> tuple[dict, list[dict]]:
    """Fitted models by name (cached on disk, "VAE" included) and their fit statistics."""
    models, rows = {}, []
    models_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = model_path(models_dir, name, epochs, width)
        stats = fit_stats_path(models_dir, name, epochs, width)
        loader = SameSizeVAE.load if name == "VAE" else model_spec(name)[0].load
        if path.is_file() and not refit:
            models[name] = loader(path, width=width) if name == "VAE" else loader(path)
            if stats.is_file():
                rows.append(json.loads(stats.read_text()))
            continue
        if name == "VAE":
            model = SameSizeVAE(width=width, epochs=epochs)
            wall, cpu = _timed_fit(model, X_train)
            row = _fit_row(name, epochs, "", wall, cpu, "")
        else:
            cls, params = model_spec(name)
            model = cls(epochs=epochs, width=width, random_state=0, verbose=False, **params)
            wall, cpu = _timed_fit(model, X_train)
            row = _fit_row(name, epochs, model.n_steps_, wall, cpu, f"{model.loss_history_[-1]:.4f}")
        model.save(path)
        stats.write_text(json.dumps(row))
        models[name] = model
        rows.append(row)
        print(row, flush=True)
    return models, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_model_arguments(parser, epochs_help="training epochs (the estimators' default)")
    parser.add_argument("--models", default="AE,IntAE,AugIntAE,VAE", help="rows to train/evaluate")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("METAAUG_THREADS", 1)),
                        help="torch threads (1 is fastest for these small nets on a shared 2-core box)")
    parser.add_argument("--refit", action="store_true")
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    (X_train, _), (X_novel, _) = load_dev_split()
    digits = digits_as_characters()
    names = [n for n in args.models.split(",") if n]
    models, fit_rows = load_or_fit_models(names, X_train, args.epochs, args.width, args.models_dir, args.refit)
    rows = []
    for name in names:
        model = models[name]
        errors = [model.reconstruction_error(X) for X in (X_train, X_novel, digits)]
        rows.append({"model": name, "training alphabets": f"{errors[0]:.4f}",
                     "novel alphabets (Korean + Tagalog)": f"{errors[1]:.4f}", "digits (28 px)": f"{errors[2]:.4f}",
                     "novel / training": f"{errors[1] / errors[0]:.2f}"})
        print(rows[-1], flush=True)
    total = time.perf_counter() - start
    body = "\n".join([
        "## AE / IntAE / AugIntAE: reconstruction on training vs novel domains",
        "",
        *provenance(f"{total / 60:.1f} min for this run; fit times of each model below (cached models are "
                    "loaded, not refitted)",
                    note="after fitting each model in its own run with `--models NAME --no-doc`"),
        "",
        f"Trained unlabeled on the 6 training alphabets (3700 images, 28 px), width {args.width}, "
        f"{args.epochs} epochs (the estimators' default is 20). Mean per-pixel L1 reconstruction error "
        "(images in [0, 1]); the VAE has the same encoder/generator (encoder emits mean and log-variance) "
        "and reconstructs from the posterior mean:",
        "",
        markdown_table(rows),
        *(["Fits (wall and CPU seconds on the hardware above, one thread):", "", markdown_table(fit_rows)]
          if fit_rows else []),
    ])
    publish_section("autoencoders-generalisation", body, write=not args.no_doc)


if __name__ == "__main__":
    main()
