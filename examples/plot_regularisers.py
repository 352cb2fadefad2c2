"""
===========================
What the regularisers do
===========================

Besides the pair terms, SUPREME's objective has three regularisers (see
:ref:`objective`):

* ``balance_weight``: log K minus the entropy of the cluster sizes of each
  batch (Eq. 6), against collapse into a few clusters;
* ``factor_weight``: the binary entropy of the factor codes (Eq. 7), which pushes each
  factor towards 0 or 1;
* ``source_weight``: the source cross-entropy kept during clustering (Eq. 8), against
  forgetting what the source taught.

This example sets each weight to 0 in turn and compares the accuracy and the cluster
sizes with the full objective.
"""

# %%
# Data and settings
# -----------------
import numpy as np
from sklearn.datasets import load_digits

from sklearn_supreme import SupremeClusterer
from sklearn_supreme.datasets import split_source_target
from sklearn_supreme.metrics import cluster_accuracy

X, y = load_digits(return_X_y=True)
X_source, y_source, X_target, y_target = split_source_target(
    X, y, source_classes=range(5)
)
settings = dict(
    n_clusters=5,
    pretrain_epochs=10,
    max_epochs=20,
    batch_size=64,
    balance_weight=5.0,
    random_state=0,
)
variants = {
    "full objective": {},
    "balance_weight=0": {"balance_weight": 0.0},
    "factor_weight=0": {"factor_weight": 0.0},
    "source_weight=0": {"source_weight": 0.0},
}

# %%
# Fit every variant
# -----------------
results = {}
for name, params in variants.items():
    model = SupremeClusterer(**{**settings, **params})
    model.fit(X_target, source=(X_source, y_source))
    sizes = np.sort(np.bincount(model.labels_, minlength=5))[::-1]
    acc = cluster_accuracy(y_target, model.labels_)
    results[name] = (acc, sizes, model.history_)
    print(f"{name:18s} ACC {acc:.3f}  cluster sizes {sizes.tolist()}")

# %%
# Accuracy and cluster sizes
# --------------------------
# The target has about 180 samples of each digit; a collapsed clustering shows a few
# large clusters and some nearly empty ones.
import matplotlib.pyplot as plt

fig, (ax_acc, ax_sizes) = plt.subplots(1, 2, figsize=(10, 4),
                                       layout="constrained")
names = list(results)
bars = ax_acc.bar(names, [results[name][0] for name in names],
                  color="tab:blue")
ax_acc.bar_label(bars, fmt="%.3f")
ax_acc.set_ylim(0, 1.05)
ax_acc.set_ylabel("clustering accuracy (ACC)")
ax_acc.set_title("Accuracy")
ax_acc.tick_params(axis="x", labelrotation=20)

width = 0.2
for offset, name in enumerate(names):
    ax_sizes.bar(np.arange(5) + (offset - 1.5) * width, results[name][1],
                 width, label=name)
ax_sizes.axhline(len(y_target) / 5, color="tab:gray", linestyle="--",
                 label="equal sizes")
ax_sizes.set_xticks(range(5), ["largest", "2nd", "3rd", "4th", "smallest"])
ax_sizes.set_ylabel("samples in the cluster")
ax_sizes.set_title("Cluster sizes, largest first")
ax_sizes.legend(fontsize=8)
plt.show()

# %%
# The balance term during training
# --------------------------------
# ``history_["balance"]`` is the unweighted balance term per epoch: 0 for equal
# cluster sizes in every batch, :math:`\log K` if all samples fall in one cluster.
fig, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
for name in names:
    balance = results[name][2]["balance"]
    ax.plot(np.arange(1, len(balance) + 1), balance, label=name)
ax.axhline(np.log(5), color="tab:gray", linestyle=":",
           label="log K (one cluster)")
ax.set_xlabel("clustering epoch")
ax.set_ylabel("balance term (Eq. 6)")
ax.set_title("Unweighted balance term (the three variants with it overlap near 0)")
ax.legend(fontsize=8)
plt.show()

# %%
# Without the balance term nothing stops the pair terms from merging clusters: the
# sizes drift away from equal, possibly down to a single cluster. With it, the sizes
# stay near the true ones here, where the classes are of equal size (see
# :ref:`limits` for targets whose classes are not). A fit whose ``labels_`` leave
# clusters empty says so with a :class:`~sklearn.exceptions.ConvergenceWarning`, as
# :class:`~sklearn.cluster.KMeans` warns when it finds fewer distinct clusters than
# asked for: here the fit without the balance term does. The source term keeps the features
# anchored to what the source taught while the target head trains; the factor term
# shapes the codes that ``transform`` returns and matters mostly on long runs. These
# are single, short runs on one seed: differences of a few points are noise.
