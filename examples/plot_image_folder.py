"""
==================================
Clustering your own image folder
==================================

Images on disk, one folder per class, are loaded with
:func:`~sklearn_supreme.datasets.load_image_folder` into a ``uint8`` array of shape
``(n_images, height, width, channels)``, which
:class:`~sklearn_supreme.SupremeClusterer` takes as it is: with ``backbone="cnn"`` it
trains a small convolutional network.

To stay self-contained, this example first draws a tiny synthetic collection with
Pillow in a temporary folder: striped and checkered textures as the labelled source,
and three shapes (disc, square, cross) as the target.
"""

# %%
# A tiny image collection
# -----------------------
# The layout is ``<root>/<split>/<class>/<file>``: here the split folders ``source`` and
# ``target``. With your own images, the source is a folder per labelled class; the
# target may be a single folder of unlabelled images (``target/all/*.jpg``), in which
# case its "labels" are all the same and are simply not used.
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

rng = np.random.default_rng(0)
SIZE = 16


def draw(kind):
    """One 16x16 RGB image of a texture or shape, random colours and place."""
    background = tuple(int(v) for v in rng.integers(0, 100, 3))
    colour = tuple(int(v) for v in rng.integers(150, 256, 3))
    image = Image.new("RGB", (SIZE, SIZE), background)
    pen = ImageDraw.Draw(image)
    period = int(rng.integers(3, 6))
    x, y = rng.integers(3, SIZE - 3, 2)
    r = int(rng.integers(3, 6))
    if kind == "stripes_h":
        for row in range(int(rng.integers(0, period)), SIZE, period):
            pen.line([(0, row), (SIZE, row)], fill=colour)
    elif kind == "stripes_v":
        for col in range(int(rng.integers(0, period)), SIZE, period):
            pen.line([(col, 0), (col, SIZE)], fill=colour)
    elif kind == "checker":
        for row in range(0, SIZE, period):
            for col in range((row // period % 2) * period, SIZE, 2 * period):
                corner = (col + period - 1, row + period - 1)
                pen.rectangle([(col, row), corner], fill=colour)
    elif kind == "disc":
        pen.ellipse([x - r, y - r, x + r, y + r], fill=colour)
    elif kind == "square":
        pen.rectangle([x - r, y - r, x + r, y + r], fill=colour)
    elif kind == "cross":
        pen.line([(x - r, y), (x + r, y)], fill=colour, width=2)
        pen.line([(x, y - r), (x, y + r)], fill=colour, width=2)
    noise = rng.integers(-20, 21, (SIZE, SIZE, 3))
    pixels = np.asarray(image, dtype=np.int16) + noise
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


root = Path(tempfile.mkdtemp(prefix="supreme_images_"))
classes = {
    "source": ["checker", "stripes_h", "stripes_v"],
    "target": ["cross", "disc", "square"],
}
for split, names in classes.items():
    for name in names:
        folder = root / split / name
        folder.mkdir(parents=True)
        for i in range(60):
            draw(name).save(folder / f"{i:03d}.png")
print(sorted(str(p.relative_to(root)) for p in root.glob("*/*")))

# %%
# Load it
# -------
# ``cache=False`` because the folder is temporary; on a real collection the decoded
# arrays are cached on disk, so only the first load pays for decoding.
from sklearn_supreme.datasets import load_image_folder

source = load_image_folder(root, "source", cache=False)
target = load_image_folder(root, "target", cache=False)
print("source:", source.images.shape, source.images.dtype, source.target_names)
print("target:", target.images.shape, target.images.dtype, target.target_names)

# %%
# Cluster the target
# ------------------
# A small CNN (``backbone_params={"width": 8}``) and a few epochs are enough for these
# toy images; real photographs need more of both, and a GPU.
from sklearn.cluster import KMeans

from sklearn_supreme import SupremeClusterer
from sklearn_supreme.metrics import clustering_report

model = SupremeClusterer(
    n_clusters=3,
    backbone="cnn",
    backbone_params={"width": 8},
    pretrain_epochs=5,
    max_epochs=10,
    batch_size=32,
    balance_weight=5.0,
    random_state=0,
)
model.fit(target.images, source=(source.images, source.target))

pixels = target.images.reshape(len(target.images), -1).astype(np.float32)
kmeans = KMeans(n_clusters=3, n_init=10, random_state=0).fit(pixels)
for name, labels in [("K-means on pixels", kmeans.labels_),
                     ("SUPREME", model.labels_)]:
    report = clustering_report(target.target, labels)
    scores = "  ".join(f"{k.upper()} {v:.3f}" for k, v in report.items())
    print(f"{name:18s}{scores}")

# %%
# Look at the clusters
# --------------------
# A few images of each cluster found by SUPREME: a good clustering puts one shape in
# each row, whatever the colours.
import matplotlib.pyplot as plt

n_shown = 10
fig, axes = plt.subplots(3, n_shown, figsize=(n_shown, 3.4),
                         layout="constrained")
for cluster, row in enumerate(axes):
    members = np.flatnonzero(model.labels_ == cluster)
    shown = rng.choice(members, min(n_shown, len(members)), replace=False)
    for ax in row:
        ax.axis("off")
    for ax, index in zip(row, shown):
        ax.imshow(target.images[index])
    row[0].set_title(f"cluster {cluster} ({len(members)} images)",
                     loc="left", fontsize=9)
fig.suptitle("Target images by SUPREME cluster")
plt.show()

# %%
# Clean up the temporary folder.
import shutil

shutil.rmtree(root)
