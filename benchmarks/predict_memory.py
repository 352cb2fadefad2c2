"""Peak memory of predicting and transforming many feature rows with a fitted model.

Fits a small SupremeClusterer on digits (64 features), then calls ``predict`` and
``transform`` on N random rows in a fresh process each, and reports the peak resident
memory of that process next to the size of the input. Prediction runs in batches, so
memory grows with the input and output arrays only (linearly), never with N^2.
``--dtype float64`` gives the rows as float64 (what a scikit-learn scaler before the
estimator hands on), which the network reads batch by batch as float32.

    python benchmarks/predict_memory.py --rows 1000000 --out predict_memory.json
"""

import argparse
import json
import os
import pickle
import platform
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np


def _child(model_path, rows, method, dtype):
    import torch

    torch.set_num_threads(1)
    with open(model_path, "rb") as f:
        model = pickle.load(f)
    X = np.random.default_rng(0).standard_normal((rows, model.n_features_in_), dtype=dtype)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    out = getattr(model, method)(X)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({
        "method": method, "rows": rows, "dtype": dtype, "seconds": seconds,
        "input_mib": X.nbytes / 2**20, "output_mib": out.nbytes / 2**20,
        "rss_before_call_mib": before / 1024, "peak_rss_mib": peak / 1024,
        "peak_increase_mib": (peak - before) / 1024,
    }))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                        help="dtype of the predicted rows (default: float32)")
    parser.add_argument("--out", default=None)
    parser.add_argument("--_child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._child:
        _child(args._child[0], int(args._child[1]), args._child[2], args._child[3])
        return 0

    from sklearn.datasets import load_digits

    from sklearn_supreme import SupremeClusterer, __version__

    X, y = load_digits(return_X_y=True)
    model = SupremeClusterer(n_clusters=5, pretrain_epochs=2, max_epochs=2, random_state=0)
    model.fit(X[y >= 5], source=(X[y < 5], y[y < 5]))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.pkl")
        with open(path, "wb") as f:
            pickle.dump(model, f)
        for rows in args.rows:
            for method in ("predict", "transform"):
                out = subprocess.run(
                    [sys.executable, __file__, "--_child", path, str(rows), method, args.dtype],
                    check=True, capture_output=True, text=True,
                ).stdout
                results.append(json.loads(out.strip().splitlines()[-1]))
                r = results[-1]
                print(f"{method:9s} {rows:>9,d} {args.dtype} rows: input {r['input_mib']:7.1f} "
                      f"MiB, output {r['output_mib']:7.1f} MiB, peak RSS "
                      f"{r['peak_rss_mib']:7.1f} MiB (+{r['peak_increase_mib']:6.1f} MiB during "
                      f"the call), {r['seconds']:.1f} s")
    report = {
        "results": results, "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "device": "cpu", "version": __version__, "date": time.strftime("%Y-%m-%d"),
        "command": " ".join(["python", "benchmarks/predict_memory.py", *(argv or sys.argv[1:])]),
    }
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
