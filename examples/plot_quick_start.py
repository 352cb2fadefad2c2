"""
====================================
Quick start: SUPREME against K-means
====================================

Cluster the handwritten digits 5-9 (the *target*, no labels used) with the help of the
labelled digits 0-4 (the *source*), and compare with K-means on the same target.

The target labels only score the clusterings at the end; ``fit`` never sees them.
"""

# %%
# Source and target
# -----------------
# :func:`~sklearn_supreme.datasets.split_source_target` cuts a labelled set by class:
# the digits 0-4 become the labelled source, the digits 5-9 the target to cluster into
# ``K = 5`` groups.
import numpy as np
from sklearn.datasets import load_digits

from sklearn_supreme.datasets import split_source_target

X, y = load_digits(return_X_y=True)
X_source, y_source, X_target, y_target = split_source_target(
    X, y, source_classes=range(5)
)
print(f"source: {len(X_source)} digits {np.unique(y_source).tolist()}")
print(f"target: {len(X_target)} digits {np.unique(y_target).tolist()}")

# %%
# Plain K-means
# -------------
# K-means on the pixels of the target: no knowledge from the source.
from sklearn.cluster import KMeans

kmeans = KMeans(n_clusters=5, n_init=10, random_state=0).fit(X_target)

# %%
# SUPREME
# -------
# :class:`~sklearn_supreme.SupremeClusterer` pretrains a small network on the source
# labels, initialises the clusters with K-means on the pretrained features, then trains
# on the confident pairs of that initial clustering and on the agreement of every target
# sample with a perturbed copy of itself. The settings are small so that the example
# runs in seconds on a CPU.
#
# Each digit is a row of 64 pixels, but really an 8x8 image: telling SUPREME so makes
# its perturbed copies shifted and rescaled digits (not flipped: a flipped digit is
# another symbol) instead of noisy vectors, the single setting that matters most on
# digits (see the user guide, "How the defaults were chosen").
from sklearn_supreme import ImagePerturbation, SupremeClusterer

model = SupremeClusterer(
    n_clusters=5,
    augment=ImagePerturbation(flip=False, image_shape=(1, 8, 8)),
    pretrain_epochs=10,
    max_epochs=20,
    batch_size=64,
    balance_weight=5.0,
    random_state=0,
)
model.fit(X_target, source=(X_source, y_source))
print(model.labels_[:20])

# %%
# Scores
# ------
# Cluster ids are arbitrary, so the accuracy (ACC) first matches clusters to classes
# one to one; NMI and ARI are scikit-learn's.
# ``model.initial_labels_`` is the K-means clustering of the pretrained features that
# SUPREME starts from.
import matplotlib.pyplot as plt

from sklearn_supreme.metrics import clustering_report

reports = {
    "K-means\n(pixels)": clustering_report(y_target, kmeans.labels_),
    "K-means\n(pretrained features)": clustering_report(
        y_target, model.initial_labels_
    ),
    "SUPREME": clustering_report(y_target, model.labels_),
}
for name, report in reports.items():
    scores = "  ".join(f"{m.upper()} {v:.3f}" for m, v in report.items())
    print(f"{name.replace(chr(10), ' '):32s} {scores}")

fig, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
width = 0.25
positions = np.arange(len(reports))
for offset, metric in enumerate(["acc", "nmi", "ari"]):
    values = [report[metric] for report in reports.values()]
    bars = ax.bar(positions + (offset - 1) * width, values, width,
                  label=metric.upper())
    ax.bar_label(bars, fmt="%.2f", fontsize=8)
ax.set_xticks(positions, list(reports))
ax.set_ylim(0, 1.1)
ax.set_ylabel("score")
ax.set_title("Digits 5-9, with digits 0-4 as the labelled source")
ax.legend(loc="upper left", ncols=3)
plt.show()

# %%
# In this run SUPREME improves on the K-means clustering it starts from (ACC 0.86 to
# 0.91) and ends a little above K-means on the pixels (0.89). The second comparison is
# close with these short settings and depends on the seed: with ``random_state=1``
# SUPREME reaches 0.879, below K-means on the pixels. With longer training (100
# clustering epochs) the same perturbation averages 0.926 over six seeds, none below
# 0.912 (see the user guide, "How the defaults were chosen").

# %%
# Which digits end up together
# ----------------------------
# The contingency table of classes against clusters, with the clusters in the order of
# their best-matching class: a perfect clustering is diagonal.
from scipy.optimize import linear_sum_assignment
from sklearn.metrics.cluster import contingency_matrix

table = contingency_matrix(y_target, model.labels_)
_, cluster_order = linear_sum_assignment(table, maximize=True)
table = table[:, cluster_order]

fig, ax = plt.subplots(figsize=(4.5, 4), layout="constrained")
ax.imshow(table, cmap="Blues")
for (row, col), count in np.ndenumerate(table):
    ax.text(col, row, count, ha="center", va="center",
            color="white" if count > table.max() / 2 else "black")
ax.set_xticks(range(5), [f"cluster {c}" for c in cluster_order], rotation=45)
ax.set_yticks(range(5), [f"digit {d}" for d in np.unique(y_target)])
ax.set_xlabel("SUPREME cluster (in the order of the matched digit)")
ax.set_ylabel("true class")
ax.set_title("SUPREME clusters of the target")
plt.show()

# %%
# The training curves
# -------------------
# ``history_`` holds the objective and the unweighted mean of each of its terms per
# clustering epoch (see :ref:`objective`).
fig, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
epochs = np.arange(1, model.n_iter_ + 1)
for term in ["loss", "self", "pair", "balance", "factor", "source"]:
    ax.plot(epochs, model.history_[term], label=term)
ax.set_xlabel("clustering epoch")
ax.set_ylabel("mean over the epoch's steps")
ax.set_yscale("log")
ax.set_title("SUPREME's objective (loss) and its unweighted terms")
ax.legend(ncols=3)
plt.show()

# %%
# New samples
# -----------
# The fitted model assigns new samples to its clusters (``predict``), gives soft
# assignments (``predict_proba``) and the factor-space codes (``transform``).
print(model.predict(X_target[:5]))
print(model.predict_proba(X_target[:2]).round(3))
print(model.transform(X_target[:2]).shape)
