"""LASIUM tasks in your own learn2learn MAML loop, tested on learn2learn tasks of held-out classes.

LASIUM builds synthetic 5-way 1-shot tasks from *unlabeled* images;
:class:`metaaug.data.L2LTaskSource` hands them over in learn2learn's
``(X, y)`` layout (support first, then queries), and a plain
``l2l.algorithms.MAML`` loop meta-trains a conv4 on them. The test tasks come
the other way round: learn2learn's ``TaskDataset`` over the labeled held-out
classes, built by :func:`metaaug.data.to_l2l_metadataset`.

Data: scikit-learn's digits (train on 0-4 without labels, test on 5-9), or an
Omniglot folder (``--omniglot PATH``: the last two alphabets are held out).

    python examples/lasium_to_maml.py                # about a minute on 2 CPU cores
    python examples/lasium_to_maml.py --steps 2000 --omniglot ~/data/omniglot
"""

from __future__ import annotations

import argparse
import random

import learn2learn as l2l
import torch
import torch.nn.functional as F

import metaaug
from metaaug.data import L2LTaskSource, load_digits, load_omniglot, omniglot_alphabets, to_l2l_metadataset
from metaaug.fewshot import mean_ci95
from metaaug.nets import Conv4Classifier

N_WAYS, K_SHOT, K_QUERY = 5, 1, 5


def load_split(omniglot: str | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Unlabeled training images, and the held-out images with their labels."""
    if omniglot is None:
        X, y = load_digits()
        return X[y < 5], X[y >= 5], y[y >= 5] - 5
    alphabets = omniglot_alphabets(omniglot)
    X_train, _ = load_omniglot(omniglot, alphabets=alphabets[:-2])
    X_test, y_test = load_omniglot(omniglot, alphabets=alphabets[-2:])
    return X_train, X_test, y_test


def split_task(X: torch.Tensor, y: torch.Tensor, k_shot: int) -> tuple[torch.Tensor, ...]:
    """A learn2learn task's first ``k_shot`` images of each class as support, the rest as queries."""
    support = torch.zeros(len(y), dtype=torch.bool)
    for label in y.unique():
        support[torch.nonzero(y == label)[:k_shot, 0]] = True
    return X[support], y[support], X[~support], y[~support]


def adapt(maml: l2l.algorithms.MAML, X: torch.Tensor, y: torch.Tensor, steps: int) -> l2l.algorithms.MAML:
    """A clone of the meta-learned network after ``steps`` inner SGD steps on ``(X, y)``."""
    learner = maml.clone()
    for _ in range(steps):
        learner.adapt(F.cross_entropy(learner(X), y))
    return learner


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--omniglot", default=None, help="an Omniglot folder (default: scikit-learn digits)")
    parser.add_argument("--epochs", type=int, default=10, help="LASIUM's autoencoder epochs")
    parser.add_argument("--hidden", type=int, default=16, help="width of LASIUM's autoencoder")
    parser.add_argument("--steps", type=int, default=300, help="MAML meta-updates")
    parser.add_argument("--test-tasks", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    random.seed(args.seed)  # learn2learn's TaskDataset draws with Python's random
    X_train, X_test, y_test = load_split(args.omniglot)

    lasium = metaaug.LASIUM(epochs=args.epochs, hidden=args.hidden, random_state=args.seed).fit(X_train)
    tasks = L2LTaskSource(lasium, n_ways=N_WAYS, k_shot=K_SHOT, k_query=K_QUERY, random_state=args.seed)

    test_set = to_l2l_metadataset(X_test, y_test)  # learn2learn's MetaDataset, without its slow full data pass
    transforms = [
        l2l.data.transforms.NWays(test_set, N_WAYS),
        l2l.data.transforms.KShots(test_set, K_SHOT + 15),
        l2l.data.transforms.LoadData(test_set),
        l2l.data.transforms.RemapLabels(test_set),
    ]
    test_tasks = l2l.data.TaskDataset(test_set, task_transforms=transforms, num_tasks=args.test_tasks)

    network = Conv4Classifier(N_WAYS, X_train.shape[1], hidden=32, image_size=X_train.shape[-1])
    maml = l2l.algorithms.MAML(network, lr=0.1, first_order=True)
    optimizer = torch.optim.Adam(maml.parameters(), lr=1e-3)
    n_support = N_WAYS * K_SHOT
    for step in range(args.steps):
        X, y = tasks.sample()  # 5 support images first, then 25 queries
        learner = adapt(maml, X[:n_support], y[:n_support], steps=1)
        loss = F.cross_entropy(learner(X[n_support:]), y[n_support:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 100 == 0:
            print(f"meta-update {step}: query loss {loss.item():.3f}", flush=True)

    accuracies = []
    for i in range(args.test_tasks):
        X_task, y_task = test_tasks[i]  # learn2learn's layout: images and labels, classes mixed
        support_x, support_y, query_x, query_y = split_task(X_task, y_task, K_SHOT)
        learner = adapt(maml, support_x, support_y, steps=5)
        with torch.no_grad():
            accuracies.append(float((learner(query_x).argmax(1) == query_y).float().mean()))
    mean, ci95 = mean_ci95(accuracies)
    print(
        f"5-way 1-shot accuracy on held-out classes: {100 * mean:.1f} ± {100 * ci95:.1f}% "
        f"({args.test_tasks} tasks; chance 20%)"
    )
    return mean


if __name__ == "__main__":
    main()
