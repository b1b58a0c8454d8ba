"""The ProtoNets faithfulness judges shared by the generator benchmarks, fitted once and cached.

``examples/autoencoder_faithfulness.py``, ``examples/lofgan_omniglot.py`` and
``examples/metafavae_omniglot.py`` score class faithfulness with the same judge
(:func:`metaaug.metrics.fit_prototype_judge` on the dev split's training
alphabets): by default the *soft-stroke* judge with rotated classes, 600 s of
meta-training on one thread. The file name records the settings, so a cached
judge is only reused for the settings it was trained with.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from metaaug.fewshot import ProtoNetClassifier
from metaaug.metrics.faithfulness import fit_prototype_judge

DEFAULT_JUDGE = {"soften": True, "rotated_classes": True, "max_time": 600.0}


def judge_path(models_dir: Path, soften: bool = True, rotated_classes: bool = True, max_time: float = 600.0) -> Path:
    """Cache file of the judge with these settings (20-way 2-shot, random_state 0)."""
    name = f"protonet_dev_train_20w2s_{'soft' if soften else 'crisp'}{max_time:.0f}"
    return Path(models_dir) / f"{name}{'_rot' if rotated_classes else ''}.pt"


def load_or_fit_judge(models_dir: Path, X: torch.Tensor, y: torch.Tensor, soften: bool = True,
                      rotated_classes: bool = True, max_time: float = 600.0) -> tuple[ProtoNetClassifier, str]:
    """The cached judge for these settings, or a freshly fitted (and cached) one; with a note on which."""
    path = judge_path(models_dir, soften, rotated_classes, max_time)
    if path.is_file():
        return ProtoNetClassifier.load(path), f"loaded from {path.name}"
    start = time.perf_counter()
    judge = fit_prototype_judge(X, y, soften=soften, rotated_classes=rotated_classes, max_time=max_time)
    path.parent.mkdir(parents=True, exist_ok=True)
    judge.save(path)
    return judge, f"fitted in {time.perf_counter() - start:.0f} s ({judge.n_iterations_done_} meta-updates)"


def describe_judge(soften: bool = True, rotated_classes: bool = True, max_time: float = 600.0) -> str:
    """One phrase naming the judge's training, for the docs."""
    parts = ["soft-stroke" if soften else "crisp"]
    if rotated_classes:
        parts.append("rotated classes")
    return (f"ProtoNets judge (`metaaug.metrics.fit_prototype_judge`, conv4, 20-way 2-shot, {', '.join(parts)}, "
            f"{max_time:.0f} s on the labeled training alphabets)")
