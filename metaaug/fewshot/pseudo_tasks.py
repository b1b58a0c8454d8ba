"""PsCo's few-shot pseudo-tasks: Sinkhorn matching of a batch to a queue, and the losses on them.

Jang, Lee & Shin, "Unsupervised Meta-Learning via Few-shot Pseudo-supervised
Contrastive Learning", ICLR 2023. Each image of a batch is one way of a
pseudo-task; its support shots are the queue entries that an (entropy-
regularised) optimal-transport plan assigns to it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: how the support shots of a pseudo-task are chosen from the queue
PSEUDO_LABELS = ("sinkhorn", "nearest", "none")


@torch.no_grad()
def sinkhorn(scores: torch.Tensor, epsilon: float = 0.05, n_iterations: int = 3) -> torch.Tensor:
    """A transport plan between the rows and the columns of ``scores`` (Sinkhorn-Knopp).

    Starts from ``exp(scores / epsilon)`` and alternately rescales the columns
    to sum to ``n_rows / n_cols`` (every queue entry gets the same total
    weight) and the rows to sum to 1 (every batch image is fully assigned),
    ``n_iterations`` times. The rows sum to 1 exactly; the columns approach
    their target as ``n_iterations`` grows.

    Parameters
    ----------
    scores : torch.Tensor
        ``(B, M)`` similarities (cosine similarities of unit vectors).
    epsilon : float, default 0.05
        Entropy regularisation: smaller is closer to a hard matching.
    n_iterations : int, default 3
        Column-row rescaling rounds (the paper's 3).

    Returns
    -------
    torch.Tensor
        ``(B, M)`` non-negative plan, float32.
    """
    if scores.ndim != 2:
        raise ValueError(f"scores must be a (B, M) matrix, got shape {tuple(scores.shape)}")
    logits = scores.float() / epsilon
    plan = torch.exp(logits - logits.max())  # the shift cancels in the normalisations
    plan = plan / plan.sum()
    n_rows, n_cols = plan.shape
    for _ in range(n_iterations):
        plan = plan / (plan.sum(dim=0, keepdim=True) * n_cols)
        plan = plan / (plan.sum(dim=1, keepdim=True) * n_rows)
    return plan * n_rows


@torch.no_grad()
def pseudo_support(
    keys: torch.Tensor, queue: torch.Tensor, n_shots: int, how: str = "sinkhorn", **sinkhorn_args: float
) -> torch.Tensor:
    """Queue positions of each batch image's ``n_shots`` support shots, ``(B, n_shots)``.

    ``how="sinkhorn"`` takes the largest entries of the Sinkhorn plan between
    the momentum ``keys`` and the ``queue`` (the paper); ``"nearest"`` the most
    similar queue entries (no transport: several images may share shots).
    """
    scores = keys @ queue.T
    if how == "sinkhorn":
        scores = sinkhorn(scores, **sinkhorn_args)  # type: ignore[arg-type]
    elif how != "nearest":
        raise ValueError(f"how must be 'sinkhorn' or 'nearest', got {how!r}")
    return torch.topk(scores, k=n_shots, dim=1).indices


def pseudo_supcon_loss(predictions: torch.Tensor, shots: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Supervised-contrastive loss of a pseudo-task: each prediction against every support shot.

    Parameters
    ----------
    predictions : torch.Tensor
        ``(B, D)`` unit vectors, one per way (the online view of each image).
    shots : torch.Tensor
        ``(B, K, D)`` unit vectors, the ``K`` support shots of each way.
    temperature : float, default 1.0
        The paper's tau_2.

    Returns
    -------
    torch.Tensor
        Scalar: mean over ways of ``logsumexp_j(p . s_j / t) - mean_k(p . s_ik) / t``,
        the cross-entropy of the way's shots among all ``B * K`` shots.
    """
    n_ways, n_shots, dim = shots.shape
    logits = predictions @ shots.reshape(n_ways * n_shots, dim).T / temperature
    positives = (predictions.unsqueeze(1) * shots).sum(-1).mean(1) / temperature
    return (torch.logsumexp(logits, dim=1) - positives).mean()


def moco_loss(
    predictions: torch.Tensor, keys: torch.Tensor, queue: torch.Tensor, temperature: float = 0.2
) -> torch.Tensor:
    """InfoNCE of MoCo: each prediction's own key is the positive, the queue the negatives."""
    positive = (predictions * keys).sum(dim=1, keepdim=True)
    logits = torch.cat([positive, predictions @ queue.T], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long, device=logits.device))


def support_supcon_loss(
    predictions: torch.Tensor, projections: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """Supervised-contrastive loss on a labeled support set (PsCo's test-time adaptation).

    Each support image's prediction is pulled towards the projections of its
    class (itself included, each weighted ``1 / class size``) against all
    projections of the set.
    """
    logits = predictions @ projections.T / temperature
    same = (labels.unsqueeze(0) == labels.unsqueeze(1)).to(logits.dtype)
    positives = (logits * same).sum(1) / same.sum(1)
    return (torch.logsumexp(logits, dim=1) - positives).mean()
