"""Few-shot learners (ProtoNets, MAML via learn2learn, PsCo), baselines and evaluation."""

from metaaug.fewshot.baselines import PixelNearestNeighbor, ScratchClassifier, untrained_protonet
from metaaug.fewshot.evaluation import mean_ci95, task_accuracies
from metaaug.fewshot.maml import MAMLClassifier
from metaaug.fewshot.protonet import ProtoNetClassifier, prototype_logits
from metaaug.fewshot.psco import PsCo

__all__ = [
    "MAMLClassifier",
    "PixelNearestNeighbor",
    "ProtoNetClassifier",
    "PsCo",
    "ScratchClassifier",
    "mean_ci95",
    "prototype_logits",
    "task_accuracies",
    "untrained_protonet",
]
