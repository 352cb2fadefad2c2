"""Compare SupremeClusterer settings on digits (0-4 source, 5-9 target) over seeds.

Each argument is a set of keyword arguments of SupremeClusterer, written as Python
(``"tau=0.1, balance_weight=5.0"``); the defaults apply to everything else. Prints, per
setting, the ACC of every seed, their mean and the ACC of the initial K-means on the
pretrained features. These runs chose the package defaults (see the user guide).

    python benchmarks/digits_settings.py "" "tau=0.1" "backbone_params={'hidden_layer_sizes': (512, 256)}"
"""

import argparse
import ast
import sys

import numpy as np
import torch
from sklearn.datasets import load_digits

from sklearn_supreme import SupremeClusterer
from sklearn_supreme.metrics import cluster_accuracy


def parse_settings(text):
    """``"a=1, b=(2, 3)"`` -> ``{"a": 1, "b": (2, 3)}``, literals only."""
    call = ast.parse(f"f({text})", mode="eval").body
    return {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("settings", nargs="+")
    parser.add_argument("--seeds", type=int, default=6)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    X, y = load_digits(return_X_y=True)
    source, target = y < 5, y >= 5
    for text in args.settings:
        params = parse_settings(text)
        accs, inits = [], []
        for seed in range(args.seeds):
            model = SupremeClusterer(n_clusters=5, random_state=seed, **params)
            model.fit(X[target], source=(X[source], y[source]))
            accs.append(cluster_accuracy(y[target], model.labels_))
            inits.append(cluster_accuracy(y[target], model.initial_labels_))
        print(f"{text or '(defaults)'}: ACC {np.round(accs, 3).tolist()} mean {np.mean(accs):.3f} "
              f"(initial K-means mean {np.mean(inits):.3f})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
