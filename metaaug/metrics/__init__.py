"""Offline generation metrics: feature spaces, FID/KID, diversity, faithfulness, downstream gain.

See ``docs/metrics.md``. Every metric works in a feature space trained inside
the library (:class:`DomainFeatureExtractor`), so nothing is downloaded;
Inception-v3 FID, LPIPS and the Inception Score are used only with weights the
user supplies (a local file or torchvision's cache). ``metaaug.metrics.protocols``
runs the papers' evaluation protocols in one call.
"""

from metaaug.metrics.diversity import diversity, feature_diversity, nearest_seed_distance, pairwise_diversity
from metaaug.metrics.downstream import downstream_accuracy, labeled_split, mean_ci95
from metaaug.metrics.faithfulness import (
    DomainClassifier,
    SeedClassClassifier,
    class_faithfulness,
    domain_misclassification,
    fit_prototype_judge,
    nearest_prototype,
    prototype_faithfulness,
    prototype_predictions,
)
from metaaug.metrics.features import DomainFeatureExtractor, as_features, compute_features
from metaaug.metrics.fid import fid, frechet_distance, inception_feature_extractor, kernel_distance, kid
from metaaug.metrics.inception import FidelityInception, fidelity_inception, inception_classifier, inception_score
from metaaug.metrics.perceptual import LPIPS, lpips_network, torchvision_weights_path
from metaaug.metrics.protocols import (
    augintae_fid_protocol,
    augintae_misclassification,
    lofgan_protocol,
    mean_pairwise_distance,
)

__all__ = [
    "LPIPS",
    "FidelityInception",
    "augintae_fid_protocol",
    "fidelity_inception",
    "augintae_misclassification",
    "inception_classifier",
    "inception_score",
    "lofgan_protocol",
    "lpips_network",
    "mean_pairwise_distance",
    "torchvision_weights_path",
    "DomainClassifier",
    "DomainFeatureExtractor",
    "SeedClassClassifier",
    "as_features",
    "class_faithfulness",
    "compute_features",
    "diversity",
    "domain_misclassification",
    "downstream_accuracy",
    "feature_diversity",
    "fid",
    "fit_prototype_judge",
    "frechet_distance",
    "inception_feature_extractor",
    "kernel_distance",
    "kid",
    "labeled_split",
    "mean_ci95",
    "nearest_prototype",
    "nearest_seed_distance",
    "pairwise_diversity",
    "prototype_faithfulness",
    "prototype_predictions",
]
