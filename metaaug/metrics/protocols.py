"""The papers' evaluation protocols as one call each.

* :func:`lofgan_protocol`: LoFGAN's evaluation (its official
  ``main_metric.py``): each unseen class is split into ``S_in`` (its first
  ``n_in`` images) and ``S_real`` (the rest); 128 images per class are
  generated, each from ``k_shot=3`` images drawn from ``S_in``; FID between all
  of ``S_real`` and all generated images, LPIPS as the mean distance over all
  pairs of images generated for one class, averaged over classes.
* :func:`augintae_misclassification`: AugIntAE's train/test
  misclassification: a small CNN trained on raw images tells the training
  domain from the novel domain; the score is the share of images generated
  from novel seeds that it puts in the training domain.
* :func:`augintae_fid_protocol`: FID between images generated from a few
  seeds of each novel class and the real images of those classes that were not
  seeds.

See ``docs/metrics.md`` for each protocol, step by step, and the paper's table it corresponds to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from metaaug._random import RandomState, check_rng, draw_seed, torch_seeded
from metaaug.data.images import as_images, as_labels
from metaaug.metrics.features import Embedder, check_same_image_shape
from metaaug.metrics.fid import fid
from metaaug.nets.conv4 import Conv4Classifier

Distance = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _classes_larger_than(
    X: Any, y: Any, name: str, kind: str, kept: tuple[str, int], why: str
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """:func:`_classes`, refusing any class with no more images than the ``kept`` count (``(name, n)``)."""
    images, classes = _classes(X, y, name)
    smallest = min(len(members) for members in classes)
    if smallest <= kept[1]:
        raise ValueError(
            f"every {kind} class needs more than {kept[0]}={kept[1]} images ({why}); "
            f"the smallest has {smallest}: pass {kept[0]} < {smallest}"
        )
    return images, classes


def _classes(X: Any, y: Any, name: str) -> tuple[torch.Tensor, list[torch.Tensor]]:
    images = as_images(X, name=name)
    labels = as_labels(y, len(images), name=f"y for {name}")
    return images, [torch.nonzero(labels == label).flatten() for label in torch.unique(labels)]


def _generator(generator: Any) -> Callable[..., torch.Tensor]:
    generate = getattr(generator, "generate", None)
    if not callable(generate):
        raise ValueError(
            f"generator must have a generate(seeds, n, random_state) method (a fitted metaaug generator), "
            f"got {type(generator).__name__}"
        )
    return generate


def _generated(
    generate: Callable[..., torch.Tensor], seeds: torch.Tensor, n: int, rng: np.random.Generator
) -> torch.Tensor:
    images = as_images(generate(seeds, n, random_state=draw_seed(rng)), name="generated images")
    if len(images) != n:
        raise ValueError(f"the generator returned {len(images)} images when asked for {n}")
    check_same_image_shape(seeds, images)
    return images


def mean_pairwise_distance(distance: Distance, images: torch.Tensor, batch_size: int = 256) -> float:
    """Mean ``distance(a, b)`` over all pairs ``i < j`` of ``images`` (LoFGAN's LPIPS per class).

    ``distance`` maps two ``(P, C, H, W)`` batches to ``P`` distances (e.g.
    :func:`~metaaug.metrics.lpips_network`); pairs are evaluated in batches of
    ``batch_size``.
    """
    images = as_images(images, name="images", min_count=2)
    first, second = torch.triu_indices(len(images), len(images), offset=1)
    values = []
    with torch.no_grad():
        for start in range(0, len(first), int(batch_size)):
            a, b = first[start : start + int(batch_size)], second[start : start + int(batch_size)]
            values.append(torch.as_tensor(distance(images[a], images[b])).detach().double().reshape(-1).cpu())
    result = torch.cat(values)
    if len(result) != len(first) or not bool(torch.isfinite(result).all()):
        raise ValueError("the distance must return one finite value per pair")
    return float(result.mean())


def lofgan_protocol(
    generator: Any,
    X_unseen: Any,
    y_unseen: Any,
    embed: Embedder,
    lpips: Distance | None = None,
    n_in: int = 10,
    n_generated: int = 128,
    k_shot: int = 3,
    shuffle: bool = False,
    n_real: int | None = None,
    batch_size: int = 256,
    random_state: RandomState = 0,
) -> dict[str, Any]:
    """LoFGAN's evaluation of a few-shot generator on unseen classes: FID and LPIPS.

    The defaults follow the first release of the official ``main_metric.py``
    (October 2021, closest to the paper): ``S_in`` is the first ``n_in``
    images of each class and the FID's real set is all of ``S_real``. The
    current script (revised December 2021 and January 2022) shuffles the
    images of every class first and draws 128 real images per class from
    ``S_real`` with replacement: ``shuffle=True, n_real=128``.

    Parameters
    ----------
    generator : fitted generator
        Anything with ``generate(seeds, n, random_state)`` (every metaaug
        generator, e.g. ``metaaug.LoFGAN`` or ``metaaug.PixelMixup()``).
    X_unseen, y_unseen : images and int labels
        The unseen classes, in the dataset's order: the first ``n_in`` images
        of each class form ``S_in``, the others ``S_real`` (as the official code
        slices ``data[:, :num]`` / ``data[:, num:]``).
    embed : callable or object with ``embed``
        Feature map of the FID; the paper's is Inception-v3
        (:func:`~metaaug.metrics.inception_feature_extractor`).
    lpips : callable or None, default=None
        ``lpips(a, b)`` -> ``(P,)`` distances; the paper's is VGG LPIPS on
        images resized to 32 px: ``lpips_network("vgg", image_size=32)``
        (add ``scaling="lofgan-code"`` to repeat the official script's double
        scaling of the images, for values comparable with its table).
        ``None`` skips LPIPS (``result["lpips"]`` is ``None``).
    n_in : int, default=10
        Images per class in ``S_in`` (the paper: 10 for Flowers and Animal
        Faces, 30 for VGGFace). Every class needs more than ``n_in`` images.
    n_generated : int, default=128
        Images generated per class, each from its own draw of seeds.
    k_shot : int, default=3
        Seeds per generated image, drawn from ``S_in`` with replacement (as
        ``np.random.choice`` in the official code).
    shuffle : bool, default=False
        Reorder the images of every class by one random permutation of
        positions (shared by all classes, as the revised script does) before
        ``S_in`` is taken; ``False`` keeps the dataset's order.
    n_real : int or None, default=None
        ``None``: the FID's real set is all of ``S_real``. An int: that many
        images per class, drawn from ``S_real`` with replacement (the revised
        script: 128).
    batch_size : int, default=256
        Images (pairs for LPIPS) per forward pass.
    random_state : int, Generator or None, default=0

    Returns
    -------
    dict
        ``"fid"`` (float), ``"lpips"`` (float or None), ``"n_classes"``,
        ``"n_real"`` (real images in the FID over all classes), ``"n_generated"``
        (over all classes) and ``"generated"`` (list of ``(n_generated, C, H,
        W)`` tensors, one per class).
    """
    counts = (("n_in", n_in, 1), ("n_generated", n_generated, 2), ("k_shot", k_shot, 1))
    for name, value, low in counts + ((("n_real", n_real, 1),) if n_real is not None else ()):
        if int(value) < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")
    generate = _generator(generator)
    images, classes = _classes_larger_than(
        X_unseen, y_unseen, "X_unseen", "unseen", ("n_in", int(n_in)), "S_in plus at least one in S_real"
    )
    rng = check_rng(random_state)
    if shuffle:  # one permutation of positions for every class; shorter classes keep the positions they have
        positions = torch.from_numpy(rng.permutation(max(len(members) for members in classes)))
        classes = [members[positions[positions < len(members)]] for members in classes]
    real, generated = [], []
    for members in classes:
        s_in, s_real = images[members[: int(n_in)]], images[members[int(n_in) :]]
        if n_real is not None:
            s_real = s_real[torch.from_numpy(rng.choice(len(s_real), int(n_real)))]
        real.append(s_real)
        draws = [
            _generated(generate, s_in[rng.choice(int(n_in), int(k_shot))], 1, rng) for _ in range(int(n_generated))
        ]
        generated.append(torch.cat(draws))
    score = fid(embed, torch.cat(real), torch.cat(generated), batch_size=batch_size)
    lpips_score = None
    if lpips is not None:
        lpips_score = float(np.mean([mean_pairwise_distance(lpips, g, batch_size) for g in generated]))
    return {
        "fid": score,
        "lpips": lpips_score,
        "n_classes": len(classes),
        "n_real": sum(len(r) for r in real),
        "n_generated": sum(len(g) for g in generated),
        "generated": generated,
    }


def _train_domain_cnn(
    train: torch.Tensor, novel: torch.Tensor, hidden: int, steps: int, batch_size: int, lr: float
) -> Conv4Classifier:
    channels, height, width = (int(s) for s in train.shape[1:])
    network = Conv4Classifier(2, in_channels=channels, hidden=hidden, image_size=(height, width))
    optimiser = torch.optim.Adam(network.parameters(), lr=lr)
    half = max(1, int(batch_size) // 2)
    target = torch.cat([torch.zeros(half, dtype=torch.long), torch.ones(half, dtype=torch.long)])
    network.train()
    for _ in range(int(steps)):
        # balanced batches: half training domain (0), half novel domain (1)
        batch = torch.cat([train[torch.randint(len(train), (half,))], novel[torch.randint(len(novel), (half,))]])
        loss = F.cross_entropy(network(batch), target)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    return network.eval()


@torch.no_grad()
def _domain(network: Conv4Classifier, images: torch.Tensor) -> torch.Tensor:
    return torch.cat([network(images[i : i + 512]).argmax(1) for i in range(0, len(images), 512)])


def augintae_misclassification(
    train_images: Any,
    novel_images: Any,
    generated: Any,
    hidden: int = 32,
    steps: int = 500,
    batch_size: int = 64,
    lr: float = 1e-3,
    held_out: float = 0.2,
    random_state: RandomState = 0,
) -> dict[str, float]:
    """AugIntAE's train/test misclassification: a CNN on raw images judges the domain of generated images.

    A conv4 network (:class:`metaaug.nets.Conv4Classifier` with two outputs)
    is trained from scratch with cross-entropy on raw real images, balanced
    batches of the training domain (the generator's training classes) and the
    novel domain (the classes the seeds come from). Images generated from novel
    seeds should look novel.

    Parameters
    ----------
    train_images : images
        Real images of the training classes.
    novel_images : images
        Real images of the novel classes, same ``(C, H, W)``; keep the seeds of
        ``generated`` out of them if you also report the real anchor.
    generated : images
        Images generated from novel-class seeds.
    hidden : int, default=32
        Filters per conv block.
    steps : int, default=500
        Adam steps.
    batch_size : int, default=64
        Images per step, half from each domain.
    lr : float, default=1e-3
    held_out : float, default=0.2
        Share of each real set kept out of training to measure the CNN's own
        error (0 < held_out < 1).
    random_state : int, Generator or None, default=0
        Split, initialisation and batches.

    Returns
    -------
    dict of float
        ``"misclassification"``: share of ``generated`` classified as training
        domain (low is good). ``"real_novel_misclassification"``: the same for
        the held-out real novel images (what a perfect generator scores);
        ``"real_train_misclassification"``: share of held-out real training
        images classified as novel; ``"accuracy"``: the CNN's accuracy on both
        held-out real sets.
    """
    train = as_images(train_images, name="train_images", min_count=2)
    novel = as_images(novel_images, name="novel_images", min_count=2)
    generated = as_images(generated, name="generated")
    check_same_image_shape(train, novel)
    check_same_image_shape(novel, generated)
    if not 0 < float(held_out) < 1:
        raise ValueError(f"held_out must be a share strictly between 0 and 1, got {held_out}")
    for name, value in (("hidden", hidden), ("steps", steps), ("batch_size", batch_size)):
        if int(value) < (2 if name == "batch_size" else 1):
            raise ValueError(f"{name} must be >= {2 if name == 'batch_size' else 1}, got {value}")
    rng = check_rng(random_state)
    splits = []
    for images in (train, novel):
        order = torch.from_numpy(rng.permutation(len(images)))
        n_out = min(len(images) - 1, max(1, round(float(held_out) * len(images))))
        splits.append((images[order[n_out:]], images[order[:n_out]]))
    (train_fit, train_out), (novel_fit, novel_out) = splits
    with torch_seeded(rng):
        network = _train_domain_cnn(train_fit, novel_fit, int(hidden), int(steps), int(batch_size), float(lr))
    train_wrong = (_domain(network, train_out) == 1).double()
    novel_wrong = (_domain(network, novel_out) == 0).double()
    return {
        "misclassification": float((_domain(network, generated) == 0).double().mean()),
        "real_novel_misclassification": float(novel_wrong.mean()),
        "real_train_misclassification": float(train_wrong.mean()),
        "accuracy": float(1 - torch.cat([train_wrong, novel_wrong]).mean()),
    }


def augintae_fid_protocol(
    generator: Any,
    X_novel: Any,
    y_novel: Any,
    embed: Embedder,
    k_shot: int = 2,
    n_per_class: int = 128,
    batch_size: int = 256,
    random_state: RandomState = 0,
) -> dict[str, Any]:
    """FID of a few-shot generator on novel classes: generated from seeds vs the real non-seed images.

    For each novel class ``k_shot`` random images are the seeds and
    ``n_per_class`` images are generated from them in one
    ``generate(seeds, n_per_class)`` call; the FID compares all generated
    images with all real images of the classes that were not seeds.

    Parameters
    ----------
    generator : fitted generator
        Anything with ``generate(seeds, n, random_state)``.
    X_novel, y_novel : images and int labels
        Novel classes (never seen in training); each needs more than
        ``k_shot`` images.
    embed : callable or object with ``embed``
        Feature map of the FID (the papers': Inception-v3,
        :func:`~metaaug.metrics.inception_feature_extractor`).
    k_shot : int, default=2
        Seeds per class (AugIntAE interpolates between pairs of seeds).
    n_per_class : int, default=128
    batch_size : int, default=256
    random_state : int, Generator or None, default=0

    Returns
    -------
    dict
        ``"fid"``, ``"n_classes"``, ``"n_real"``, ``"n_generated"`` and
        ``"generated"`` (one tensor per class).
    """
    if int(k_shot) < 1 or int(n_per_class) < 1:
        raise ValueError(f"k_shot and n_per_class must be >= 1, got {k_shot} and {n_per_class}")
    generate = _generator(generator)
    images, classes = _classes_larger_than(
        X_novel, y_novel, "X_novel", "novel", ("k_shot", int(k_shot)), "seeds plus real ones to compare"
    )
    rng = check_rng(random_state)
    real, generated = [], []
    for members in classes:
        order = members[torch.from_numpy(rng.permutation(len(members)))]
        seeds = images[order[: int(k_shot)]]
        real.append(images[order[int(k_shot) :]])
        generated.append(_generated(generate, seeds, int(n_per_class), rng))
    return {
        "fid": fid(embed, torch.cat(real), torch.cat(generated), batch_size=batch_size),
        "n_classes": len(classes),
        "n_real": sum(len(r) for r in real),
        "n_generated": sum(len(g) for g in generated),
        "generated": generated,
    }
