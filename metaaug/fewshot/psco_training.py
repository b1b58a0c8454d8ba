"""PsCo's training loop, its two views of a batch, and the test-time adaptation of its heads.

Used by :class:`metaaug.fewshot.psco.PsCo`; ``model`` is a PsCo whose
networks are built (``network_``) and whose fitted settings are set.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from metaaug.augment.crops import colour_distortion, random_resized_crop
from metaaug.base import TrainingBudget
from metaaug.data.sources import ImageSource
from metaaug.fewshot.pseudo_tasks import moco_loss, pseudo_supcon_loss, pseudo_support, support_supcon_loss
from metaaug.nets.modes import eval_mode


def views(model: Any, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The strong (online) and weak (momentum) views of a batch, standardised."""
    strong = random_resized_crop(images)
    if images.shape[1] == 3:
        strong = colour_distortion(strong)
    if model.view_transform is not None:
        transformed = torch.as_tensor(model.view_transform(images)).to(images.device, images.dtype)
        if transformed.shape != images.shape:
            raise ValueError(
                f"PsCo: view_transform must return images shaped like its input {tuple(images.shape)}, "
                f"got {tuple(transformed.shape)}"
            )
        images = transformed.clamp(0, 1)
    weak = random_resized_crop(images)
    return model._standardise(strong), model._standardise(weak)


def train_on_pseudo_tasks(model: Any, data: ImageSource) -> tuple[TrainingBudget, list[float]]:
    """PsCo's training loop on ``data`` (on the training device) for a ``PsCo`` whose networks are built.

    Returns the budget run and the loss of every step.
    """
    network = model.network_
    batch_size = min(int(model.batch_size), len(data))
    steps_per_epoch = max(1, len(data) // batch_size)  # full batches only: batch norm and the queue want them
    n_steps = int(model.epochs) * steps_per_epoch
    parameters = [p for part in network.online_parts() for p in part.parameters()]
    base_lr = model.lr * batch_size / 256
    optimiser = torch.optim.SGD(parameters, lr=base_lr, momentum=0.9, weight_decay=model.weight_decay)
    network.train()
    curve: list[float] = []
    budget = TrainingBudget(n_steps, model.max_time, "PsCo", model.verbose)
    order = torch.randperm(len(data))
    for step in budget:
        progress = step / n_steps
        if model.max_time is not None:
            progress = max(progress, budget.elapsed / model.max_time)
        for group in optimiser.param_groups:
            group["lr"] = base_lr * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        position = step % steps_per_epoch
        if position == 0 and step > 0:
            order = torch.randperm(len(data))
        strong, weak = views(model, data[order[position * batch_size : (position + 1) * batch_size]])
        network.update_momentum(model.momentum)
        predictions = network.predictions(strong)
        keys = network.keys(weak)
        queue = network.queue  # written only by the enqueue after the optimiser step
        loss = moco_loss(predictions, keys, queue, model.temperature)
        if model.pseudo_labels != "none":
            shots = pseudo_support(
                keys,
                queue,
                model.pseudo_shots_,
                model.pseudo_labels,
                epsilon=model.sinkhorn_epsilon,
                n_iterations=model.sinkhorn_iterations,
            )
            loss = loss + pseudo_supcon_loss(predictions, queue[shots], model.supcon_temperature)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        network.enqueue(keys)
        value = budget.track(float(loss.detach()))
        curve.append(value)
        budget.set_postfix(loss=value)
    for part in network.online_parts():
        part.zero_grad(set_to_none=True)
    return budget, curve


def adapted_heads(model: Any, support: torch.Tensor, labels: torch.Tensor) -> tuple[nn.Module, nn.Module]:
    """Copies of the projector and predictor tuned on one (standardised) support set."""
    projector = copy.deepcopy(model.network_.projector).train()
    predictor = copy.deepcopy(model.network_.predictor).train()
    heads = [p for m in (projector, predictor) for p in m.parameters()]
    optimiser = torch.optim.SGD(heads, lr=model.finetune_lr, momentum=0.9, weight_decay=1e-3)
    with torch.no_grad(), eval_mode(model.network_.backbone):
        features = model.network_.backbone(support)
    for _ in range(int(model.finetune_steps)):
        projected = projector(features)
        predicted = F.normalize(predictor(projected), dim=1)
        loss = support_supcon_loss(predicted, F.normalize(projected, dim=1), labels, model.supcon_temperature)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    return projector.eval(), predictor.eval()
