"""Code the paper-table programs share: thread option, seeding, JSON result stores, cached models, judges.

Not part of the library: these helpers serve ``benchmarks/tables/*`` and
``benchmarks/speed/*`` only (no script imports another script).

* :data:`ROOT`, :data:`RESULTS_DIR`, :data:`DOCS_IMAGES`: where results and
  figures go in the repository.
* :func:`env_threads`: the ``METAAUG_THREADS`` default of every ``--threads``.
* :func:`torch_generator`, :func:`torch_seeded`: torch randomness from an
  integer seed, the way the estimators draw it.
* :func:`update_json_store`: read-merge-write of a JSON result file, kept
  apart from concurrent runs by a file lock.
* The cached autoencoders of the AE / IntAE / AugIntAE tables
  (:func:`load_or_fit_models`, :class:`SameSizeVAE`), fitted once and reused
  by the generalisation, faithfulness, hallucination, interpolation, tuning
  and speed scripts.
* The ProtoNets faithfulness judges (:func:`load_or_fit_judge`), fitted once
  and cached next to the models.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks._harness.feature_cache import default_cache_dir
from benchmarks._harness.reporting import exclusive_lock
from metaaug import AE, AugIntAE, IntAE
from metaaug.augment import augmentation_triplets
from metaaug.base import TrainingBudget
from metaaug.fewshot import ProtoNetClassifier
from metaaug.metrics import fit_prototype_judge
from metaaug.nets.autoencoders import Encoder, Generator
from metaaug.nets.blocks import reparameterize

ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = ROOT / "benchmarks" / "results"  # the stored results the tables are built from
DOCS_IMAGES = ROOT / "docs" / "images"  # the figures the tables write


# ------------------------------------------------------------------ options and seeding
def env_threads(default: int) -> int:
    """``$METAAUG_THREADS`` as an int, else ``default`` (0 means "torch's own choice" to the callers)."""
    return int(os.environ.get("METAAUG_THREADS", default))


def _seed_from(random_state: int | np.random.Generator | None) -> int:
    rng = random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
    return int(rng.integers(0, 2**63 - 1))


def torch_generator(random_state: int | np.random.Generator | None) -> torch.Generator:
    """A CPU torch generator seeded from ``random_state`` as the estimators seed theirs."""
    generator = torch.Generator()
    generator.manual_seed(_seed_from(random_state))
    return generator


@contextlib.contextmanager
def torch_seeded(random_state: int | np.random.Generator | None) -> Iterator[None]:
    """Run the block with torch's global RNG seeded from ``random_state``; the caller's state is restored."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(_seed_from(random_state))
        yield


# ------------------------------------------------------------------ JSON result stores
def _lock_path(path: Path) -> Path:
    """A lock file in the temporary folder, one per store (keeps lock files out of the repository)."""
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"metaaug-{digest}.lock"


def update_json_store(path: Path, merge: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    """Replace the JSON at ``path`` by ``merge(stored)`` (``{}`` when missing), under a file lock.

    Runs of the same table may finish at the same time: the lock makes each
    re-read the file and merge into what the others stored; the new content
    is written to a temporary file first and moved into place.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(_lock_path(path)):
        stored = json.loads(path.read_text()) if path.is_file() else {}
        merged = merge(stored)
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        partial.write_text(json.dumps(merged, indent=1))
        os.replace(partial, path)
    return merged


# ------------------------------------------------------------------ cached autoencoders
MODEL_CLASSES: dict[str, Any] = {"AE": AE, "IntAE": IntAE, "AugIntAE": AugIntAE}
# named non-default configurations: (class, constructor parameters)
MODEL_VARIANTS: dict[str, tuple[Any, dict[str, Any]]] = {
    # the published AugIntAE rows were measured with the defaults of 0.1.x: no reconstruction term, latent 32
    "AugIntAE": (AugIntAE, {"reconstruction_weight": 0.0, "latent_dim": 32}),
    "AugIntAE+rec": (AugIntAE, {"reconstruction_weight": 1.0, "latent_dim": 32}),
    "AugIntAE+perc": (AugIntAE, {"perceptual": True, "reconstruction_weight": 0.0, "latent_dim": 32}),
}


def model_spec(name: str) -> tuple[Any, dict[str, Any]]:
    """The estimator class and non-default parameters behind a model name."""
    return MODEL_VARIANTS[name] if name in MODEL_VARIANTS else (MODEL_CLASSES[name], {})


def default_models_dir() -> Path:
    """Where the autoencoder tables cache their models by default."""
    return default_cache_dir() / "autoencoders"


def add_model_arguments(
    parser: argparse.ArgumentParser,
    epochs_flag: str = "--epochs",
    epochs_help: str = "which cached autoencoders (fitted with these epochs)",
) -> None:
    """``--models-dir``, the epochs flag and ``--width``: which cached autoencoders a script uses."""
    parser.add_argument("--models-dir", type=Path, default=default_models_dir())
    parser.add_argument(epochs_flag, type=int, default=20, help=epochs_help)
    parser.add_argument("--width", type=int, default=32, help="the autoencoders' `hidden` (network width)")


def model_path(models_dir: Path, name: str, epochs: int, hidden: int) -> Path:
    """``NAME_e{epochs}_w{hidden}.pt`` in ``models_dir``."""
    return models_dir / f"{name}_e{epochs}_w{hidden}.pt"


def fit_stats_path(models_dir: Path, name: str, epochs: int, hidden: int) -> Path:
    """The fit statistics stored beside the cached model (``.json``)."""
    return model_path(models_dir, name, epochs, hidden).with_suffix(".json")


def _timed_fit(model: Any, X: torch.Tensor) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(X)
    return time.perf_counter() - wall, time.process_time() - cpu


def _fit_row(name: str, epochs: int, steps: Any, wall: float, cpu: float, final_loss: str) -> dict[str, Any]:
    return {
        "model": name,
        "epochs": epochs,
        "steps": steps,
        "threads": torch.get_num_threads(),
        "fit wall s": f"{wall:.0f}",
        "fit CPU s": f"{cpu:.0f}",
        "s / epoch": f"{wall / epochs:.1f}",
        "final loss": final_loss,
    }


class SameSizeVAE:
    """A VAE with the autoencoders' encoder/generator (the encoder emits mean and log-variance).

    Trained like :class:`metaaug.AE` (same augmented images ``C``, Adam 1e-3
    with 10x drops at 35% / 70%, same epochs), with a Bernoulli likelihood
    (binary cross-entropy, summed over pixels) plus the KL term. Reconstruction
    decodes the posterior mean.
    """

    def __init__(
        self, latent_dim: int = 32, hidden: int = 32, epochs: int = 10, batch_size: int = 64, random_state: int = 0
    ) -> None:
        self.latent_dim, self.hidden, self.epochs = latent_dim, hidden, epochs
        self.batch_size, self.random_state = batch_size, random_state

    def fit(self, X: torch.Tensor) -> SameSizeVAE:
        shape = (int(X.shape[1]), int(X.shape[2]), int(X.shape[3]))
        self.shape_ = shape
        with torch_seeded(self.random_state):
            self.encoder_ = Encoder(shape, 2 * self.latent_dim, "infogan", self.hidden, normalize=False)
            self.decoder_ = Generator(shape, self.latent_dim, "infogan", self.hidden)
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
                batch = X[order[position * self.batch_size : (position + 1) * self.batch_size]]
                _, _, c, _ = augmentation_triplets(batch)
                mean, log_var = self.encoder_(c).chunk(2, dim=1)
                output = self.decoder_(reparameterize(mean, log_var))
                bce = F.binary_cross_entropy(output, c, reduction="sum") / len(c)
                kl = -0.5 * (1 + log_var - mean.pow(2) - log_var.exp()).sum() / len(c)
                optimiser.zero_grad(set_to_none=True)
                (bce + kl).backward()
                optimiser.step()
        self.encoder_.eval()
        self.decoder_.eval()
        return self

    def save(self, path: Path) -> None:
        torch.save(
            {"encoder": self.encoder_.state_dict(), "decoder": self.decoder_.state_dict(), "shape": list(self.shape_)},
            path,
        )

    @classmethod
    def load(cls, path: Path, latent_dim: int = 32, hidden: int = 32) -> SameSizeVAE:
        state = torch.load(path, weights_only=True)
        vae = cls(latent_dim=latent_dim, hidden=hidden)
        shape = (int(state["shape"][0]), int(state["shape"][1]), int(state["shape"][2]))
        vae.shape_ = shape
        vae.encoder_ = Encoder(shape, 2 * latent_dim, "infogan", hidden, normalize=False)
        vae.decoder_ = Generator(shape, latent_dim, "infogan", hidden)
        vae.encoder_.load_state_dict(state["encoder"])
        vae.decoder_.load_state_dict(state["decoder"])
        vae.encoder_.eval()
        vae.decoder_.eval()
        return vae

    def reconstruction_error(self, X: torch.Tensor) -> float:
        with torch.no_grad():
            errors = [
                (self.decoder_(self.encoder_(X[i : i + 1024]).chunk(2, dim=1)[0]) - X[i : i + 1024]).abs()
                for i in range(0, len(X), 1024)
            ]
        return float(torch.cat(errors).mean())


def load_or_fit_models(
    names: list[str], X_train: torch.Tensor, epochs: int, hidden: int, models_dir: Path, refit: bool = False
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Fitted models by name (cached on disk, "VAE" included) and their fit statistics."""
    models: dict[str, Any] = {}
    rows = []
    models_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = model_path(models_dir, name, epochs, hidden)
        stats = fit_stats_path(models_dir, name, epochs, hidden)
        if path.is_file() and not refit:
            models[name] = SameSizeVAE.load(path, hidden=hidden) if name == "VAE" else model_spec(name)[0].load(path)
            if stats.is_file():
                rows.append(json.loads(stats.read_text()))
            continue
        model: Any
        if name == "VAE":
            model = SameSizeVAE(hidden=hidden, epochs=epochs)
            wall, cpu = _timed_fit(model, X_train)
            row = _fit_row(name, epochs, "", wall, cpu, "")
        else:
            cls, params = model_spec(name)
            model = cls(epochs=epochs, hidden=hidden, random_state=0, verbose=False, **params)
            wall, cpu = _timed_fit(model, X_train)
            row = _fit_row(name, epochs, model.n_iter_, wall, cpu, f"{model.loss_curve_[-1]:.4f}")
        model.save(path)
        stats.write_text(json.dumps(row))
        models[name] = model
        rows.append(row)
        print(row, flush=True)
    return models, rows


# ------------------------------------------------------------------ faithfulness judges
DEFAULT_JUDGE = {"soften": True, "rotated_classes": True, "max_time": 600.0}


def judge_path(models_dir: Path, soften: bool = True, rotated_classes: bool = True, max_time: float = 600.0) -> Path:
    """Cache file of the judge with these settings (20-way 2-shot, random_state 0)."""
    name = f"protonet_dev_train_20w2s_{'soft' if soften else 'crisp'}{max_time:.0f}"
    return Path(models_dir) / f"{name}{'_rot' if rotated_classes else ''}.pt"


def load_or_fit_judge(
    models_dir: Path,
    X: torch.Tensor,
    y: torch.Tensor,
    soften: bool = True,
    rotated_classes: bool = True,
    max_time: float = 600.0,
) -> tuple[ProtoNetClassifier, str]:
    """The cached judge for these settings, or a freshly fitted (and cached) one; with a note on which.

    The generator tables score class faithfulness with the same judge
    (:func:`metaaug.metrics.fit_prototype_judge` on the dev split's training
    alphabets): by default the *soft-stroke* judge with rotated classes, 600 s
    of meta-training. The file name records the settings, so a cached judge is
    only reused for the settings it was trained with.
    """
    path = judge_path(models_dir, soften, rotated_classes, max_time)
    if path.is_file():
        return ProtoNetClassifier.load(path), f"loaded from {path.name}"
    start = time.perf_counter()
    judge = fit_prototype_judge(X, y, soften=soften, rotated_classes=rotated_classes, max_time=max_time)
    path.parent.mkdir(parents=True, exist_ok=True)
    judge.save(path)
    return judge, f"fitted in {time.perf_counter() - start:.0f} s ({judge.n_iter_} meta-updates)"


def describe_judge(soften: bool = True, rotated_classes: bool = True, max_time: float = 600.0) -> str:
    """One phrase naming the judge's training, for the docs."""
    parts = ["soft-stroke" if soften else "crisp"]
    if rotated_classes:
        parts.append("rotated classes")
    return (
        f"ProtoNets judge (`metaaug.metrics.fit_prototype_judge`, conv4, 20-way 2-shot, {', '.join(parts)}, "
        f"{max_time:.0f} s on the labeled training alphabets)"
    )
