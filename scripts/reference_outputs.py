"""Record, or compare against, the outputs of every estimator at tiny settings.

A refactor that must not change behaviour runs this before and after::

    python scripts/reference_outputs.py record /tmp/before.pt   # on the old tree
    python scripts/reference_outputs.py compare /tmp/before.pt  # on the new tree

Every entry is a tensor produced with a fixed ``random_state``: sampled tasks,
generated images, latents, predictions and metric values. ``compare`` lists
each entry that is missing or not bit-identical and exits 1 if there is one.
Parameters that were renamed are looked up under their old and new names.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

import metaaug
from metaaug.data import LabeledTaskSampler, load_digits

torch.set_num_threads(1)

# parameter renames across versions: a key is tried under each of its aliases
ALIASES = {"width": ("width", "hidden"), "hidden": ("hidden", "width", "hidden_channels")}


def build(cls: type, **params: Any) -> Any:
    names = set(cls().get_params(deep=False)) if params else set()
    resolved = {}
    for key, value in params.items():
        for candidate in ALIASES.get(key, (key,)):
            if candidate in names:
                resolved[candidate] = value
                break
        else:
            resolved[key] = value
    if "verbose" in names:
        resolved["verbose"] = False
    return cls(**resolved)


def tasks_tensor(tasks: list) -> torch.Tensor:
    return torch.stack(
        [torch.cat([t.support_x.flatten(), t.query_x.flatten(), t.support_y.float(), t.query_y.float()]) for t in tasks]
    )


def data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    X, y = load_digits()
    train = torch.nonzero(y < 5).flatten()[:300]
    X28 = F.interpolate(X, size=(28, 28), mode="bilinear", align_corners=False).clamp(0, 1)
    seeds = X[y == 7][:3]
    return (
        X[train],
        y[train],
        X28[train],
        seeds,
        X28[y == 7][:3],
        X[y >= 5],
    )


def record() -> dict[str, torch.Tensor]:
    X, y, X28, seeds, seeds28, X_novel = data()
    y_novel = load_digits()[1][load_digits()[1] >= 5]
    out: dict[str, torch.Tensor] = {}

    def run(name: str, fn: Callable[[], Any]) -> None:
        value = fn()
        if isinstance(value, list):
            value = tasks_tensor(value)
        if isinstance(value, tuple):
            value = torch.tensor([float(v) for v in value], dtype=torch.float64)
        if isinstance(value, np.ndarray):
            value = torch.from_numpy(value)
        if isinstance(value, float):
            value = torch.tensor(value, dtype=torch.float64)
        out[name] = value.detach().cpu()
        print(f"{name}: {tuple(out[name].shape)}", flush=True)

    base = {"random_state": 0, "device": "cpu"}
    for backend in ("vae", "gan", "ae"):
        for strategy in ("N", "RO", "OC"):
            if backend == "ae" and strategy != "N":
                continue
            est = build(
                metaaug.LASIUM, backend=backend, strategy=strategy, epochs=1, hidden=4, latent_dim=4, **base
            ).fit(X)
            run(f"lasium-{backend}-{strategy}", lambda est=est: est.sample_tasks(3, 3, 1, 2, random_state=1))
    est = build(metaaug.LASIUM, backend="ae", epochs=1, hidden=4, class_reuse=2.0, bank_size=20, **base).fit(X28)
    run("lasium-ae-28-bank", lambda: est.sample_tasks(4, 3, 1, 2, random_state=1))
    run("lasium-ae-28-bank-2", lambda: est.sample_tasks(4, 3, 1, 2, random_state=1))
    run("lasium-ae-28-latents", lambda: est.sample_latents(2, 3, 1, 2, random_state=3))
    run("umtra", lambda: build(metaaug.UMTRA, **base).fit(X).sample_tasks(3, 3, 1, 2, random_state=1))
    run(
        "cactus",
        lambda: (
            build(metaaug.CACTUs, n_clusters=10, n_partitions=2, n_components=8, **base)
            .fit(X)
            .sample_tasks(3, 3, 1, 2, random_state=1)
        ),
    )
    for name in ("AE", "IntAE", "AugIntAE"):
        cls = getattr(metaaug, name)
        est = build(cls, epochs=1, width=4, batch_size=32, **base).fit(X28)
        run(f"{name}-generate", lambda est=est: est.generate(seeds28, 5, random_state=2))
        run(f"{name}-encode", lambda est=est: est.encode(seeds28))
        run(f"{name}-interpolate", lambda est=est: est.interpolate(seeds28[:1], seeds28[1:2], [0.25, 0.5]))
    est = build(
        metaaug.AugIntAE,
        epochs=1,
        width=4,
        batch_size=32,
        adversarial=True,
        perceptual=True,
        reconstruction_weight=1.0,
        **base,
    ).fit(X28)
    run("AugIntAE-adv-generate", lambda: est.generate(seeds28, 5, random_state=2))
    if "balance" in metaaug.IntAE().get_params():  # the papers' adversarial AE and IntAE (issue 23)
        for name, params in (
            ("AE", {"adversarial": True}),
            ("IntAE", {"balance": "k-gamma", "adversarial_reconstructions": True}),
        ):
            est = build(getattr(metaaug, name), epochs=1, width=4, batch_size=32, **params, **base).fit(X28)
            run(f"{name}-paper-generate", lambda est=est: est.generate(seeds28, 5, random_state=2))
    est = build(
        metaaug.LoFGAN,
        epochs=0.02,
        meta_batch_size=2,
        gen_channels=(4, 4, 4),
        disc_channels=4,
        disc_max_channels=8,
        **base,
    ).fit(X, y)
    run("lofgan", lambda: est.generate(seeds, 4, random_state=2))
    est = build(
        metaaug.LoFGAN,
        epochs=0.02,
        meta_batch_size=2,
        gen_channels=(4, 4, 4),
        disc_channels=4,
        disc_max_channels=8,
        n_clusters=5,
        **base,
    ).fit(X)
    run("lofgan-unlabeled", lambda: est.generate(seeds, 4, random_state=2))
    for feedback in (True, False):
        est = build(
            metaaug.MetaFAVAE, n_iterations=3, max_time=None, inner_iterations=1, feedback=feedback, **base
        ).fit(X, y)
        run(f"metafavae-{feedback}", lambda est=est: est.generate(seeds, 4, random_state=2))
    est = build(metaaug.MetaFAVAE, n_iterations=2, max_time=None, inner_iterations=1, **base).fit(X)
    run("metafavae-unlabeled", lambda: est.generate(seeds, 4, random_state=2))
    run("mixup", lambda: metaaug.PixelMixup().generate(seeds, 4, random_state=2))
    sampler = LabeledTaskSampler(X, y)
    run("labeled-tasks", lambda: sampler.sample_tasks(3, 3, 1, 2, random_state=1))
    probe = LabeledTaskSampler(X_novel, y_novel).sample_tasks(4, 3, 1, 2, random_state=0)
    from metaaug import fewshot

    for name, params in (
        ("ProtoNetClassifier", {"n_ways": 3, "k_query": 2, "n_iterations": 3, "hidden": 8}),
        (
            "MAMLClassifier",
            {
                "n_ways": 3,
                "k_query": 2,
                "n_iterations": 2,
                "hidden": 8,
                "adaptation_steps": 1,
                "eval_adaptation_steps": 2,
            },
        ),
        ("ScratchClassifier", {"n_ways": 3, "steps": 2, "hidden": 8}),
    ):
        est = build(getattr(fewshot, name), **params, **base).fit(sampler)
        run(f"{name}-predict", lambda est=est: est.predict(probe[0].support_x, probe[0].support_y, probe[0].query_x))
    pixel = fewshot.PixelNearestNeighbor().fit(sampler)
    run("pixel-predict", lambda: pixel.predict(probe[0].support_x, probe[0].support_y, probe[0].query_x))
    from metaaug import augment

    gen = torch.Generator().manual_seed(0)
    p1 = augment.sample_params(6, augment.AffineRanges.characters(), 28, generator=gen)
    p2 = augment.sample_params(6, augment.AffineRanges.natural(), 28, generator=gen)
    run("affine-apply", lambda: augment.apply_params(X28[:6], p1))
    run("affine-natural-apply", lambda: augment.apply_params(X28[:6].expand(-1, 3, -1, -1).contiguous(), p2))
    from metaaug import metrics

    feats_a = torch.randn(40, 8, generator=gen)
    feats_b = torch.randn(40, 8, generator=gen) + 0.3
    run("frechet", lambda: metrics.frechet_distance(feats_a, feats_b))
    run("feature-diversity", lambda: metrics.feature_diversity(feats_a, torch.arange(40) % 4))
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("record", "compare"):
        print(__doc__)
        return 2
    mode, path = argv
    current = record()
    if mode == "record":
        torch.save(current, path)
        print(f"recorded {len(current)} outputs to {path}")
        return 0
    reference = torch.load(path, weights_only=True)
    bad = []
    for key, value in reference.items():
        if key not in current:
            bad.append(f"{key}: missing")
        elif value.shape != current[key].shape or not torch.equal(value, current[key]):
            bad.append(f"{key}: differs")
    print("\n".join(bad) if bad else f"all {len(reference)} outputs bit-identical")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
