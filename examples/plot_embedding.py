"""
=================================================
The target before and after SUPREME, in 2-D
=================================================

Where do the target samples sit before SUPREME, in the features a network learned on the
source, and after, in the factor space that SUPREME trains? Both are projected to 2-D
with t-SNE and coloured by the true class (used only for the colours).

To see the pretrained features themselves, this example pretrains the backbone on the
source itself, with skorch, and hands it to :class:`~sklearn_supreme.SupremeClusterer`
with ``pretrain_epochs=0``: the documented way of bringing your own pretrained network.
The clusterer copies the backbone and never changes the original.
"""

# %%
# Data
# ----
# The digits 0-4 are the labelled source, the digits 5-9 the target. The pixels are
# scaled to [0, 1] here, once for both, and the clusterer is told not to standardise
# again (``standardize=False``), so that the backbone sees the same input in both steps.
import numpy as np
from sklearn.datasets import load_digits

from sklearn_supreme.datasets import split_source_target

X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)
X_source, y_source, X_target, y_target = split_source_target(
    X, y, source_classes=range(5)
)

# %%
# Pretrain a backbone on the source
# ---------------------------------
# A small MLP with a linear classifier on top, trained on the source labels; the
# classifier is dropped afterwards and the MLP is the backbone :math:`f_\theta`.
import torch
from skorch import NeuralNetClassifier
from torch import nn

torch.manual_seed(0)
backbone = nn.Sequential(
    nn.Linear(64, 256), nn.BatchNorm1d(256), nn.ReLU(),
    nn.Linear(256, 128), nn.BatchNorm1d(128), nn.ReLU(),
)
classifier = NeuralNetClassifier(
    nn.Sequential(backbone, nn.Linear(128, 5)),
    criterion=nn.CrossEntropyLoss,
    optimizer=torch.optim.Adam,
    lr=1e-3,
    max_epochs=10,
    batch_size=64,
    train_split=None,
    verbose=0,
)
classifier.fit(X_source, y_source.astype(np.int64))
print(f"source training accuracy: {classifier.score(X_source, y_source):.3f}")

backbone.eval()
with torch.no_grad():
    features_before = backbone(torch.as_tensor(X_target)).numpy()

# %%
# SUPREME from that backbone
# --------------------------
# ``initial_labels_`` is the clustering SUPREME starts from: K-means on these pretrained
# features, after a PCA to ``n_clusters`` dimensions.
from sklearn_supreme import SupremeClusterer
from sklearn_supreme.metrics import cluster_accuracy

model = SupremeClusterer(
    n_clusters=5,
    backbone=backbone,
    pretrain_epochs=0,
    standardize=False,
    max_epochs=20,
    batch_size=64,
    balance_weight=5.0,
    random_state=0,
)
model.fit(X_target, source=(X_source, y_source))
features_after = model.transform(X_target)
acc_before = cluster_accuracy(y_target, model.initial_labels_)
acc_after = cluster_accuracy(y_target, model.labels_)
print(f"K-means on the pretrained features: ACC {acc_before:.3f}")
print(f"SUPREME:                            ACC {acc_after:.3f}")

# %%
# Project both to 2-D
# -------------------
# The same t-SNE settings for both; the colours are the true digits.
import matplotlib.pyplot as plt
from sklearn.manifold import TSNE

views = {
    f"Pretrained features (K-means ACC {acc_before:.2f})": features_before,
    f"SUPREME factor space (ACC {acc_after:.2f})": features_after,
}
fig, axes = plt.subplots(1, 2, figsize=(10, 4.8), layout="constrained")
for ax, (title, features) in zip(axes, views.items()):
    tsne = TSNE(n_components=2, init="pca", random_state=0)
    embedding = tsne.fit_transform(features)
    points = ax.scatter(*embedding.T, c=y_target, cmap="tab10", vmin=0, vmax=9,
                        s=6)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
fig.legend(*points.legend_elements(), title="digit",
           loc="outside right center")
fig.suptitle("Target digits 5-9, t-SNE of the representation")
plt.show()

# %%
# t-SNE keeps neighbourhoods, not the distances K-means works with, so read the panels
# together with the ACC in their titles. In this run 6 and 7 stand apart in both panels.
# K-means on the pretrained features splits the 8s over three clusters; SUPREME,
# trained on the target, recovers them (ACC 0.74 to 0.87). Its remaining errors are the
# 5s and 9s it puts together and the 9s it puts with the 8s, which is where the groups
# of the right panel touch: the factor space is not cleanly separated everywhere. How
# much clearer the right panel looks depends on the run (with another seed the 9s form
# a group of their own); these are a few seconds of training on a CPU.
