"""Transfer clustering with SUPREME as a scikit-learn estimator.

SUPREME (Huang & Gong, "Unsupervised Transfer Learning with Self-Supervised Remedy")
clusters unlabelled target samples of novel classes with knowledge transferred from
labelled source samples of other classes, and self-supervision where that knowledge
is ambiguous.
"""

from ._augment import ImagePerturbation, VectorPerturbation
from ._estimator import SupremeClusterer
from .model_selection import SupremeClustererCV

__version__ = "0.1.0"

__all__ = [
    "SupremeClusterer",
    "SupremeClustererCV",
    "ImagePerturbation",
    "VectorPerturbation",
    "__version__",
]
