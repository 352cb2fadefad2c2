"""Compare SupremeClusterer settings on digits (0-4 source, 5-9 target) over seeds.

Each argument is a set of keyword arguments of SupremeClusterer, written as Python
(``"tau=0.1, balance_weight=5.0"``): literals, or a perturbation built from literals
(``"augment=ImagePerturbation(flip=False)"``); the defaults apply to everything else.
Prints, per setting, the ACC of every seed, their mean, the ACC of the initial K-means
on the pretrained features and the number of empty clusters of each seed. These runs
chose the package defaults (see the user guide).

    python benchmarks/digits_settings.py "" "tau=0.1" "backbone_params={'hidden_layer_sizes': (512, 256)}"

``--images`` gives the digits as uint8 images of shape (N, 8, 8, 1), pixel values
times 16, so that the default backbone is the small CNN (the user guide's "Limits")::

    python benchmarks/digits_settings.py --images --seeds 3 "" "balance_weight=10.0"
"""

import argparse
import ast
import sys
import warnings

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from sklearn_supreme import ImagePerturbation, SupremeClusterer, VectorPerturbation
from sklearn_supreme.metrics import cluster_accuracy


PERTURBATIONS = {"ImagePerturbation": ImagePerturbation, "VectorPerturbation": VectorPerturbation}


def _value(node):
    """A literal, or a perturbation called with literal keyword arguments."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in PERTURBATIONS and not node.args):
        return PERTURBATIONS[node.func.id](
            **{kw.arg: ast.literal_eval(kw.value) for kw in node.keywords}
        )
    return ast.literal_eval(node)


def parse_settings(text):
    """``"a=1, b=(2, 3)"`` -> ``{"a": 1, "b": (2, 3)}``: literals, or perturbations."""
    call = ast.parse(f"f({text})", mode="eval").body
    return {kw.arg: _value(kw.value) for kw in call.keywords}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("settings", nargs="+")
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--images", action="store_true",
                        help="the digits as uint8 images (N, 8, 8, 1), pixel values times 16")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    X, y = load_digits(return_X_y=True)
    if args.images:
        X = (X * 16).clip(0, 255).astype(np.uint8).reshape(-1, 8, 8, 1)
    source, target = y < 5, y >= 5
    for text in args.settings:
        params = parse_settings(text)
        accs, inits, empty = [], [], []
        for seed in range(args.seeds):
            model = SupremeClusterer(n_clusters=5, random_state=seed, **params)
            with warnings.catch_warnings():
                # Counted below, for every seed.
                warnings.filterwarnings("ignore", "\\d+ of the n_clusters", ConvergenceWarning)
                model.fit(X[target], source=(X[source], y[source]))
            accs.append(cluster_accuracy(y[target], model.labels_))
            inits.append(cluster_accuracy(y[target], model.initial_labels_))
            empty.append(5 - len(np.unique(model.labels_)))
        print(f"{text or '(defaults)'}: ACC {np.round(accs, 3).tolist()} mean {np.mean(accs):.3f} "
              f"(initial K-means mean {np.mean(inits):.3f}); empty clusters {empty}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
