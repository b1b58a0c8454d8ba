"""Fine-tuning a copy of a network on one support set (MAML evaluation, scratch baseline)."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn


def finetune_and_predict(
    model: nn.Module, support_x: torch.Tensor, support_y: torch.Tensor, query_x: torch.Tensor, lr: float, steps: int
) -> torch.Tensor:
    """Copy ``model``, take ``steps`` full-batch SGD steps on the support set, label the queries.

    The copy stays in training mode (batch statistics), as MAML's evaluation
    does; ``model`` itself is not modified.
    """
    learner = copy.deepcopy(model)
    learner.train()
    optimizer = torch.optim.SGD(learner.parameters(), lr=lr)
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(learner(support_x), support_y).backward()
        optimizer.step()
    with torch.inference_mode():
        return learner(query_x).argmax(1)
