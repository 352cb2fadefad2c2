"""Model selection for transfer clustering.

Transfer clustering is fitted on labelled source classes and evaluated on
target data of *other*, novel classes. Ordinary cross-validation splits
samples, so every class would appear on both sides of a split; to select
hyper-parameters on the source data alone, the tools here instead hold out
whole classes, which then play the role of the novel target classes.

* :class:`NovelClassSplit` is such a class-disjoint cross-validator: each
  split holds out all samples of a few source classes as pseudo-novel test
  data.
* :class:`SupremeClustererCV` chooses the temperature ``tau`` of a
  :class:`~sklearn_supreme.SupremeClusterer` with it: each candidate is fitted
  with the held-out classes as an unlabelled target and scored by
  :func:`~sklearn_supreme.metrics.cluster_accuracy` on them.
* :func:`estimate_n_clusters` estimates the number of novel classes in the
  target with held-out *probe* classes mixed into it, as DTC does; it is what
  ``SupremeClusterer(n_clusters="auto")`` runs.

When target labels are available (benchmarks), plain
:class:`~sklearn.model_selection.GridSearchCV` with
:data:`~sklearn_supreme.metrics.cluster_accuracy_scorer` also works, with
the source passed through ``fit`` as ``source=(X_source, y_source)``.
"""

from ._n_clusters import estimate_n_clusters
from ._search import SupremeClustererCV
from ._split import NovelClassSplit

__all__ = ["NovelClassSplit", "SupremeClustererCV", "estimate_n_clusters"]
