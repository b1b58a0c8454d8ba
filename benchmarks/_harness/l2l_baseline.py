"""learn2learn's own task pipeline over in-memory images: the reference the task-sampling benchmarks compare with."""

from __future__ import annotations

from typing import Any

import torch


def learn2learn_taskset(images: torch.Tensor, labels: torch.Tensor, n_ways: int = 5, per_class: int = 16) -> Any:
    """learn2learn's ``TaskDataset`` (NWays, KShots, LoadData, RemapLabels) over a ``TensorDataset``.

    The ``MetaDataset`` gets its label index up front, so learn2learn skips
    its pass over the data; items are views of ``images`` (learn2learn's
    fastest in-memory layout).
    """
    import learn2learn as l2l

    by_class: dict[int, list[int]] = {}
    for index, label in enumerate(labels.tolist()):
        by_class.setdefault(int(label), []).append(index)
    meta = l2l.data.MetaDataset(
        torch.utils.data.TensorDataset(images, labels),
        labels_to_indices=by_class,
        indices_to_labels={i: int(c) for i, c in enumerate(labels.tolist())},
    )
    return l2l.data.TaskDataset(
        meta,
        task_transforms=[
            l2l.data.transforms.NWays(meta, n_ways),
            l2l.data.transforms.KShots(meta, per_class),
            l2l.data.transforms.LoadData(meta),
            l2l.data.transforms.RemapLabels(meta),
        ],
        num_tasks=-1,
    )
