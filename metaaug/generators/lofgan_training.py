"""LoFGAN's training: the batched class-task sampler, one adversarial step and the schedule.

:class:`LoFGAN <metaaug.generators.lofgan.LoFGAN>` prepares the data and
networks and calls :func:`train_lofgan`; the networks and the local fusion
module are in :mod:`metaaug.nets.lofgan`.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from metaaug.base import TrainingBudget
from metaaug.data.sources import ImageSource
from metaaug.distributed import DataParallel
from metaaug.nets.lofgan import LoFGANDiscriminator, LoFGANGenerator, draw_fusion_plan, local_fusion_target

LOSS_TERMS = ("loss_d", "adv_d", "cls_d", "gp", "loss_g", "adv_g", "cls_g", "local")


def keep_classes(labels: np.ndarray, k_shot: int) -> tuple[np.ndarray, np.ndarray]:
    """The classes with at least ``k_shot`` images, and ``labels`` with ``-1`` for the images of the others.

    Warns when a class is skipped; raises ``ValueError`` when none is left.
    """
    classes, counts = np.unique(labels, return_counts=True)
    short = classes[counts < k_shot]
    if len(short):
        warnings.warn(
            f"{len(short)} of {len(classes)} classes have fewer than k_shot={k_shot} images and are skipped",
            UserWarning,
            stacklevel=3,
        )
    kept = classes[counts >= k_shot]
    if len(kept) == 0:
        raise ValueError(
            f"no class has k_shot={k_shot} images or more (largest class: "
            f"{int(counts.max())}); lower k_shot or pass more images per class"
        )
    return kept, np.where(np.isin(labels, kept), labels, -1)


def to_tanh_range(images: torch.Tensor) -> torch.Tensor:
    """metaaug's [0, 1] images -> LoFGAN's [-1, 1] (the official ``Normalize(0.5, 0.5)``)."""
    return images * 2.0 - 1.0


class ClassTaskSampler:
    """Batched k-shot tasks of one class each: a uniform class, ``k`` distinct images of it.

    The official ``FSGDataset`` draws each task this way; here a whole batch is
    drawn at once (random keys + argsort inside each class).

    Parameters
    ----------
    X : torch.Tensor or ImageSource
        ``(N, C, H, W)`` images, gathered per batch (``X[index]``).
    labels : torch.Tensor
        ``(N,)`` class ids in ``0..n_classes-1``, each class with at least ``k_shot`` images.
    k_shot : int
        Images per task.
    positions : torch.Tensor, optional
        The positions in ``X`` of the images ``labels`` describe (int64); by
        default all of ``X``, in order.
    """

    def __init__(
        self, X: torch.Tensor | ImageSource, labels: torch.Tensor, k_shot: int, positions: torch.Tensor | None = None
    ) -> None:
        order = torch.argsort(labels, stable=True)
        self.images = X
        positions = torch.arange(len(labels), device=labels.device) if positions is None else positions
        self.positions = positions.to(labels.device)[order]  # image positions sorted by class
        self.counts = torch.bincount(labels).to(X.device)
        self.starts = torch.cumsum(self.counts, 0) - self.counts
        self.k_shot = k_shot

    def sample(self, n_tasks: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(n_tasks, k, C, H, W)`` images and ``(n_tasks,)`` class ids (torch global RNG)."""
        device = self.images.device
        classes = torch.randint(len(self.counts), (n_tasks,), device=device)
        counts = self.counts[classes]
        keys = torch.rand(n_tasks, int(self.counts.max()), device=device)
        keys = keys.masked_fill(torch.arange(keys.shape[1], device=device) >= counts.unsqueeze(1), 2.0)
        offsets = keys.argsort(dim=1)[:, : self.k_shot]
        picked = self.positions[self.starts[classes].unsqueeze(1) + offsets]
        images = self.images[picked.flatten()]
        return images.view(n_tasks, self.k_shot, *images.shape[1:]), classes


def lofgan_train_step(
    gen: LoFGANGenerator,
    disc: LoFGANDiscriminator,
    gen_opt: torch.optim.Optimizer,
    disc_opt: torch.optim.Optimizer,
    seeds: torch.Tensor,
    classes: torch.Tensor,
    eta: float,
    lambda_cls: float = 1.0,
    lambda_local: float = 0.5,
    lambda_gp: float = 10.0,
    group: DataParallel | None = None,
) -> dict[str, float]:
    """One discriminator update then one generator update on a batch of tasks.

    ``seeds``: ``(B, k, C, H, W)`` in [-1, 1]; ``classes``: ``(B,)`` class ids.
    Fresh fusion plans are drawn (torch global RNG) for each update, as the
    official code runs the generator once per update. Returns the value of
    each loss term (:data:`LOSS_TERMS`): the discriminator's total ``loss_d``
    (hinge ``adv_d`` + ``lambda_cls`` x ``cls_d`` + ``lambda_gp`` x ``gp``)
    and the generator's total ``loss_g`` (hinge ``adv_g`` + ``lambda_cls`` x
    ``cls_g`` + ``lambda_local`` x ``local``).

    With a process ``group`` (a data-parallel fit, each rank with its share
    of the tasks), each network's gradients are averaged across ranks before
    its update, and the returned values are the ranks' means.
    """
    n_tasks, k = seeds.shape[:2]
    grid = gen.feature_grid((int(seeds.shape[-2]), int(seeds.shape[-1])))
    n_positions = grid[0] * grid[1]

    # discriminator: hinge (real + fake) + class CE on reals + gradient penalty on reals
    real = seeds.reshape(n_tasks * k, *seeds.shape[2:]).detach().requires_grad_(True)
    real_classes = classes.repeat_interleave(k)
    disc_opt.zero_grad(set_to_none=True)
    adv_real, class_real = disc(real)
    true_logit = class_real.gather(1, real_classes.unsqueeze(1)).mean()
    (grad_real,) = torch.autograd.grad(true_logit, real, create_graph=True)
    penalty = grad_real.pow(2).sum() / len(real)
    loss_cls_d = F.cross_entropy(class_real, real_classes)
    with torch.no_grad():
        fake = gen(seeds, draw_fusion_plan(n_tasks, k, n_positions, eta, seeds.device))[0]
    adv_fake, _ = disc(fake)
    loss_adv_d = F.relu(1.0 - adv_real).mean() + F.relu(1.0 + adv_fake).mean()
    loss_d = loss_adv_d + lambda_cls * loss_cls_d + lambda_gp * penalty
    loss_d.backward()
    d_values = torch.stack([loss_d, loss_adv_d, loss_cls_d, penalty]).detach().tolist()
    if group is not None:
        d_values = group.all_reduce_gradients(disc.parameters(), values=d_values)
    disc_opt.step()

    # generator: hinge + class CE on fakes + local reconstruction
    gen_opt.zero_grad(set_to_none=True)
    disc.requires_grad_(False)
    try:
        plan = draw_fusion_plan(n_tasks, k, n_positions, eta, seeds.device)
        fake, ref_positions = gen(seeds, plan)
        target = local_fusion_target(seeds, grid, plan, ref_positions)
        loss_local = F.l1_loss(F.interpolate(fake, size=grid, mode="nearest"), target)
        adv_fake, class_fake = disc(fake)
        loss_adv_g = -adv_fake.mean()
        loss_cls_g = F.cross_entropy(class_fake, classes)
        loss_g = loss_adv_g + lambda_cls * loss_cls_g + lambda_local * loss_local
        loss_g.backward()
    finally:
        disc.requires_grad_(True)
    g_values = torch.stack([loss_g, loss_adv_g, loss_cls_g, loss_local]).detach().tolist()
    if group is not None:
        g_values = group.all_reduce_gradients(gen.parameters(), values=g_values)
    gen_opt.step()
    return dict(zip(LOSS_TERMS, d_values + g_values))


def train_lofgan(
    model: Any, sampler: ClassTaskSampler, n_steps: int, group: DataParallel | None = None, share: int | None = None
) -> tuple[TrainingBudget, dict[str, list[float]]]:
    """Alternate discriminator and generator updates of a LoFGAN's networks for ``n_steps`` (or ``max_time``).

    ``model`` is the :class:`~metaaug.generators.lofgan.LoFGAN` being fitted,
    with ``generator_`` and ``discriminator_`` built; its parameters give the
    losses' weights, the learning rate and the budget. With a process
    ``group``, each step trains on this rank's ``share`` of the meta-batch.
    Returns the finished budget and every loss term at every step.
    """
    gen, disc = model.generator_, model.discriminator_
    gen_opt = torch.optim.Adam(gen.parameters(), lr=model.lr, weight_decay=model.weight_decay)
    disc_opt = torch.optim.Adam(disc.parameters(), lr=model.lr, weight_decay=model.weight_decay)
    gen.train()
    disc.train()
    half = n_steps // 2
    history: dict[str, list[float]] = {key: [] for key in LOSS_TERMS}
    budget = TrainingBudget(n_steps, model.max_time, desc="LoFGAN", verbose=model.verbose, group=group)
    for step in budget:
        # the official schedule: constant, then linear decay to ~0 over the second half
        lr = model.lr * (1.0 - max(0, step - half) / half) if half > 0 else model.lr
        for opt in (gen_opt, disc_opt):
            for param_group in opt.param_groups:
                param_group["lr"] = lr
        seeds, classes = sampler.sample(int(model.meta_batch_size) if share is None else share)
        losses = lofgan_train_step(
            gen,
            disc,
            gen_opt,
            disc_opt,
            to_tanh_range(seeds),
            classes,
            float(model.eta),
            float(model.lambda_cls),
            float(model.lambda_local),
            float(model.lambda_gp),
            group,
        )
        for key, value in losses.items():
            history[key].append(budget.track(value, key))
        budget.set_postfix(d=losses["loss_d"], g=losses["loss_g"], local=losses["local"])
    return budget, history
