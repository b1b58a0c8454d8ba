"""Offline generation metrics: feature spaces, FID/KID, diversity, faithfulness, downstream gain.

See ``docs/metrics.md``. Every metric works in a feature space trained inside
the library (:func:`dev_feature_extractor` / :func:`domain_feature_extractor`),
so nothing is downloaded; Inception-v3 FID and LPIPS are used only with weights
the user supplies.
"""
from metaaug.metrics.diversity import diversity, feature_diversity, nearest_seed_distance, pairwise_diversity
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
from metaaug.metrics.features import (
    DomainFeatureExtractor,
    as_features,
    compute_features,
    default_cache_dir,
    dev_feature_extractor,
    domain_feature_extractor,
)
from metaaug.metrics.fid import fid, frechet_distance, inception_feature_extractor, kernel_distance, kid

__all__ = [
    "DomainClassifier",
    "DomainFeatureExtractor",
    "SeedClassClassifier",
    "as_features",
    "class_faithfulness",
    "compute_features",
    "default_cache_dir",
    "dev_feature_extractor",
    "diversity",
    "domain_feature_extractor",
    "domain_misclassification",
    "feature_diversity",
    "fid",
    "fit_prototype_judge",
    "frechet_distance",
    "inception_feature_extractor",
    "kernel_distance",
    "kid",
    "nearest_prototype",
    "nearest_seed_distance",
    "pairwise_diversity",
    "prototype_faithfulness",
    "prototype_predictions",
]

try:  # written by another issue; the package must import without it
    from metaaug.metrics.downstream import downstream_accuracy, labeled_split, mean_ci95
except ImportError:  # pragma: no cover - only before downstream.py exists
    pass
else:
    __all__ += ["downstream_accuracy", "labeled_split", "mean_ci95"]
