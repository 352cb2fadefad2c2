"""The command line: ``python -m sklearn_supreme demo | benchmark`` and their functions."""

import argparse
import contextlib
import functools
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits

from sklearn_supreme import SupremeClusterer
from sklearn_supreme.__main__ import build_parser, main
from skorch.callbacks import Callback

from sklearn_supreme._atomic import check_writable
from sklearn_supreme._augment import ImagePerturbation, VectorPerturbation
from sklearn_supreme._cli import check_settings, collapse_overrides, parse_override, torch_threads
from sklearn_supreme._reporting import format_mean_std, mean_std, to_jsonable, write_json
from sklearn_supreme.benchmark import (
    PAPER_TABLE1_CIFAR10,
    load_cifar10_protocol,
    run_cifar10_benchmark,
    stratified_subsample,
)
from sklearn_supreme.datasets import CIFAR10_CLASSES, load_cifar10, split_source_target
from sklearn_supreme.demo import DEMO_PARAMS, METHODS, run_digits_demo
from sklearn_supreme.metrics import clustering_report

CIFAR10_ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpeg.tar.gz"

# Settings that keep a demo fit to a second or two.
TINY = dict(pretrain_epochs=1, max_epochs=2)


def expected_device():
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"cpu ({len(os.sched_getaffinity(0))} cores)"


def run_main(argv):
    """``main(argv)`` with its standard output and error captured."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def assert_finite_stat(stat):
    assert set(stat) == {"mean", "std"}
    assert math.isfinite(stat["mean"]) and math.isfinite(stat["std"]) and stat["std"] >= 0


# ------------------------------------------------------------------------- demo
def test_run_digits_demo(capsys):
    threads_before = torch.get_num_threads()
    # Seed 3: the K-means on pixels of seed 0 (and 1) finds another partition, so a
    # demo that seeded every method with 0 would be told apart.
    seed = 3
    results = run_digits_demo(seeds=[seed], **TINY)
    printed = capsys.readouterr().out
    # The demo runs on its own number of torch threads and restores the caller's.
    assert torch.get_num_threads() == threads_before

    X, y = load_digits(return_X_y=True)
    Xt, yt = X[y >= 5], y[y >= 5]
    assert results["n_target"] == len(yt) and results["n_source"] == int((y < 5).sum())
    assert results["seeds"] == [seed]
    (run,) = results["runs"]
    assert set(run) == {"seed", *METHODS}
    for key in METHODS:
        scores = run[key]
        assert set(scores) == {"acc", "nmi", "ari", "seconds"}
        # With K clusters and K classes the best matching gets at least 1/K of the samples.
        assert 1 / 5 <= scores["acc"] <= 1 and 0 <= scores["nmi"] <= 1
        assert -1 <= scores["ari"] <= 1 and scores["seconds"] > 0
        # One seed: the summary is that seed's value.
        for metric, value in scores.items():
            assert results["summary"][key][metric] == {"mean": pytest.approx(value), "std": 0}
    # K-means on the pretrained features: the SupremeClusterer fit without its
    # clustering epochs, so shorter than the whole fit.
    assert run["kmeans_pretrained"]["seconds"] < run["supreme"]["seconds"]

    # The scores are those of the methods the demo names, on the digits 5-9.
    kmeans = KMeans(n_clusters=5, n_init=20, random_state=seed).fit(Xt)
    expected = clustering_report(yt, kmeans.labels_)
    assert {m: run["kmeans_pixels"][m] for m in expected} == pytest.approx(expected)
    model = SupremeClusterer(**{**DEMO_PARAMS, **TINY}, random_state=seed)
    # Same seed and number of threads as in the demo: the same labels on the CPU.
    torch.set_num_threads(1)
    model.fit(Xt, source=(X[y < 5], y[y < 5]))
    for key, labels in [("kmeans_pretrained", model.initial_labels_), ("supreme", model.labels_)]:
        expected = clustering_report(yt, labels)
        assert {m: run[key][m] for m in expected} == pytest.approx(expected)
    assert results["params"] == {
        k: to_jsonable(v) for k, v in model.get_params(deep=False).items()
        if k != "random_state"
    }

    # The summary table names every method with its mean ± std, and the machine.
    table = printed[printed.index("mean ± std over 1 seed"):]
    for key, name in METHODS.items():
        assert f"{name} " in table
        assert format_mean_std(results["summary"][key]["acc"]) in table
    assert expected_device() in table and results["environment"]["device"] == expected_device()
    # The demo ran on one torch thread.
    assert results["environment"]["torch_threads"] == 1
    assert results["environment"]["torch"] == torch.__version__


@pytest.mark.parametrize(
    "command, base, shape",
    [("demo", DEMO_PARAMS, [(64,)]), ("benchmark", {}, [(32, 32, 3), 3])],
)
def test_set_examples_of_each_help_build_that_commands_network(command, base, shape):
    # The --set examples a command's help offers are settings it accepts.
    subparsers = next(
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    )
    (action,) = [a for a in subparsers.choices[command]._actions if "--set" in a.option_strings]
    text = " ".join(action.help.split())
    examples = re.findall(r"(\w+=\"[^\"]+\"|\w+=[\w.]+)", text)
    assert any(e.startswith("backbone_params=") for e in examples), text
    assert any(e.startswith("augment__") for e in examples), text
    for example in examples:
        overrides = collapse_overrides(
            base, [parse_override(example.replace('"', ""))], is_image=len(shape) > 1
        )
        check_settings({**base, **overrides}, *shape)


def test_set_examples_of_the_model_selection_script_build_both_its_networks(capsys):
    script = _load_script("model_selection")
    with pytest.raises(SystemExit):
        script.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    examples = re.findall(r"--set KEY=VALUE override .*?\(e\.g\. (.*?)\); a bare word is a "
                          r"string \((.*?)\)", text)
    assert examples, text
    for example in re.split(r", ", ", ".join(examples[0])):
        key, value = parse_override(example.replace('"', ""))
        for name, spec in script.DATASETS.items():
            check_settings({**spec["params"], key: value}, *script.SAMPLE_SHAPES[name])


def test_demo_command_writes_json(tmp_path):
    torch.set_num_threads(2)  # not the demo's default, which must win (conftest restores)
    path = tmp_path / "demo.json"
    argv = ["demo", "--seeds", "2", "--set", "pretrain_epochs=1", "--set", "max_epochs=1",
            "--set", "tau=0.25", "--json", str(path)]
    code, out, err = run_main(argv)
    assert code == 0, err
    results = json.loads(path.read_text())
    assert results["seeds"] == [0, 1] and [run["seed"] for run in results["runs"]] == [0, 1]
    # --set overrides DEMO_PARAMS, the rest of DEMO_PARAMS stays.
    assert results["params"]["tau"] == 0.25 and results["params"]["max_epochs"] == 1
    assert all(results["params"][key] == to_jsonable(value) for key, value in DEMO_PARAMS.items())
    for key in METHODS:
        accs = [run[key]["acc"] for run in results["runs"]]
        assert results["summary"][key]["acc"] == pytest.approx(mean_std(accs))
    assert results["environment"]["command"] == "python -m sklearn_supreme " + " ".join(argv)
    assert results["environment"]["torch_threads"] == 1  # the demo's default --threads
    assert "SUPREME" in out
    # Written through a temporary file that is renamed into place: none is left over.
    assert os.listdir(tmp_path) == ["demo.json"]


def test_demo_sets_the_perturbations_parameters(tmp_path):
    path = tmp_path / "demo.json"
    argv = ["demo", "--seeds", "1", "--set", "pretrain_epochs=1", "--set", "max_epochs=1",
            "--set", "augment__translate=0.0", "--set", "augment__scale=[1.0, 1.0]",
            "--json", str(path)]
    code, out, err = run_main(argv)
    assert code == 0, err
    # The demo's perturbation with those two set; its image shape and flip kept.
    expected = ImagePerturbation(scale=[1.0, 1.0], translate=0.0, flip=False, image_shape=(1, 8, 8))
    assert json.loads(path.read_text())["params"]["augment"] == to_jsonable(expected)
    assert DEMO_PARAMS["augment"].translate == 0.125  # a copy was changed, not the demo's
    # The same fit as the Python API given that perturbation.
    results = run_digits_demo(
        seeds=[0], pretrain_epochs=1, max_epochs=1, augment=expected, file=io.StringIO()
    )
    scores = json.loads(path.read_text())["runs"][0]["supreme"]
    for metric in ("acc", "nmi", "ari"):
        assert scores[metric] == pytest.approx(results["runs"][0]["supreme"][metric])


@pytest.mark.parametrize(
    "base, is_image, expected",
    [
        # "auto" resolves for the command's input: its perturbation's parameters are set.
        ({"augment": "auto"}, True, ImagePerturbation(translate=0.0)),
        ({}, False, VectorPerturbation(noise=0.0)),
    ],
)
def test_collapse_overrides_resolves_auto(base, is_image, expected):
    name = "translate" if is_image else "noise"
    collapsed = collapse_overrides(base, [(f"augment__{name}", 0.0), ("tau", 0.5)], is_image)
    assert collapsed.keys() == {"tau", "augment"}
    assert repr(collapsed["augment"]) == repr(expected)


def test_collapse_overrides_needs_a_perturbation_of_the_package():
    # An --set augment=... given with them is the one they change; the last value wins.
    collapsed = collapse_overrides(
        {"augment": "auto"},
        [("augment", "auto"), ("augment__noise", 0.3), ("augment__noise", 0.1)], False,
    )
    assert repr(collapsed["augment"]) == repr(VectorPerturbation(noise=0.1))
    with pytest.raises(ValueError, match=r"--set augment__noise: augment=<built-in function "
                                         r"abs> is not one of the package's perturbations"):
        collapse_overrides({"augment": abs}, [("augment__noise", 0.1)], False)
    # Without augment__ keys, the overrides as given, the base untouched.
    assert collapse_overrides({"augment": abs}, [("tau", 1.0)], False) == {"tau": 1.0}


def test_demo_with_n_clusters_auto(tmp_path):
    path = tmp_path / "demo.json"
    code, out, err = run_main([*DEMO_TINY, "--set", "n_clusters=auto", "--json", str(path)])
    assert code == 0, err
    results = json.loads(path.read_text())
    (run,) = results["runs"]
    assert results["params"]["n_clusters"] == "auto"
    assert isinstance(run["n_clusters"], int) and 2 <= run["n_clusters"] <= 20
    # The K-means on pixels has no source to estimate K from: it gets the true 5.
    X, y = load_digits(return_X_y=True)
    kmeans = KMeans(n_clusters=5, n_init=20, random_state=0).fit(X[y >= 5])
    expected = clustering_report(y[y >= 5], kmeans.labels_)
    assert {m: run["kmeans_pixels"][m] for m in expected} == pytest.approx(expected)
    assert "K-means on pixels uses the true 5" in out
    assert f"seed 0  n_clusters='auto' estimated K={run['n_clusters']}\n" in out
    assert f"Digits 5-9 (K estimated per seed: {run['n_clusters']})" in out


# ------------------------------------------------------------------ argument errors
@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "required: COMMAND"),
        (["benchmark", "svhn", "--data", "x"], "invalid choice: 'svhn'"),
        (["benchmark", "cifar10"], "the following arguments are required: --data"),
        (["benchmark", "cifar10", "--data", "{tmp}/missing.tar.gz"], "No such directory"),
        (["benchmark", "cifar10", "--data", "{tmp}", "--set", "tau=-1"], "'tau' parameter"),
        (["benchmark", "cifar10", "--data", "{tmp}", "--seeds", "0"], "at least 1"),
        (["demo", "--set", "nope=1"], "'nope' is not a SupremeClusterer parameter"),
        (["demo", "--set", "tau"], "expected key=value"),
        (["demo", "--set", "=0.1"], "expected key=value"),
        (["demo", "--set", "random_state=3"], "random_state is set by --seeds"),
        (["demo", "--set", "backbone=resnet"], "'backbone' parameter"),
        # Which the fit would refuse after the demo's K-means, with a traceback.
        (["demo", "--set", "device='cpux'"], "device='cpux' is not a torch device"),
        (["demo", "--set", "n_clusters=1000"],
         "n_samples=896 should be >= n_clusters=1000"),
        (["demo", "--set", "freeze='bogus'"],
         "freeze pattern 'bogus' matches no parameter of the network"),
        (["demo", "--set", "memory='/proc/nope'"], "memory='/proc/nope' cannot hold the cache"),
        (["benchmark", "cifar10", "--data", "{tmp}/missing", "--set",
          "freeze=['backbone.nope.*']"], "freeze pattern 'backbone.nope.*' matches no"),
        # Which skorch would refuse at the first fit.
        (["demo", "--set", "callbacks=['progress']"],
         "callbacks=['progress']: callbacks are skorch callback objects"),
        (["benchmark", "cifar10", "--data", "{tmp}/missing", "--set", "callbacks=print"],
         "callbacks='print': callbacks are skorch callback objects"),
        # A backbone that cannot be built for the data fails before any fit (here the
        # demo's K-means ran first, then a traceback); braces doubled for str.format.
        (["demo", "--set", "backbone=cnn"], "backbone='cnn' is an image backbone"),
        (["demo", "--set", "backbone_params={{'width': 8}}"],
         "backbone_params={'width': 8} do not build backbone='mlp'"),
        # Values that start as a literal but do not parse name the key and the problem
        # (were a string "{'width': 8" or a bare "invalid parse_override value").
        (["demo", "--set", "backbone_params={{'width': 8"],
         "backbone_params: cannot read \"{'width': 8\" as a Python literal or JSON: '{' was "
         "never closed"),
        (["demo", "--set", "tau={{[]: 1}}"],
         "tau: cannot read '{[]: 1}' as a Python literal or JSON: unhashable type: 'list'"),
        (["benchmark", "cifar10", "--data", "{tmp}/missing", "--set",
          "backbone_params={{'widht': 8}}"], "do not build backbone='resnet18'"),
        # The perturbation's parameters: a name neither has, one the command's has not,
        # a value its own check refuses; each before any data is loaded.
        (["demo", "--set", "augment__trnaslate=0.0"],
         "'augment__trnaslate': the perturbations (ImagePerturbation, VectorPerturbation) have "
         "no parameter 'trnaslate'; choose from dropout, flip, image_shape, noise, scale, "
         "translate"),
        (["demo", "--set", "augment__noise=0.1"],
         "Invalid parameter 'noise' for estimator ImagePerturbation"),
        (["benchmark", "cifar10", "--data", "{tmp}/missing", "--set", "augment__translate=-1"],
         "ImagePerturbation: translate must be a number >= 0 and finite; got -1"),
        # Checked before the data is loaded: this --data does not exist.
        (["benchmark", "cifar10", "--data", "{tmp}/missing", "--resume"],
         "resume needs the results file"),
        (["benchmark", "cifar10", "--data", "{tmp}/missing", "--smoke", "--trace-every", "3"],
         "trace_every=3 is larger than max_epochs=2"),
        (["benchmark", "cifar10", "--data", "{tmp}/missing", "--set", "max_epochs=5",
          "--trace-every", "6"], "trace_every=6 is larger than max_epochs=5"),
    ],
)
def test_argument_errors(argv, message, tmp_path):
    argv = [arg.format(tmp=tmp_path) for arg in argv]
    code, out, err = run_main(argv)
    assert code == 2
    assert message in err and "usage:" in err
    assert out == ""


def test_benchmark_rejects_a_folder_without_cifar10(tmp_path):
    code, _, err = run_main(["benchmark", "cifar10", "--data", str(tmp_path), "--smoke",
                             "--cache-dir", str(tmp_path / "cache")])
    assert code == 2 and "No image files" in err


# The demo's settings keep it short where the old code ran it before failing.
DEMO_TINY = ["demo", "--seeds", "1", "--set", "pretrain_epochs=1", "--set", "max_epochs=1"]


@pytest.mark.parametrize(
    "argv, message",
    [
        # Checked before the data is loaded (this --data does not exist) or the demo runs.
        (["benchmark", "cifar10", "--data", "{tmp}/missing", "--out", "{tmp}"],
         "cannot write {tmp}: it is a folder; give a file path, such as {tmp}/results.json"),
        (["benchmark", "cifar10", "--data", "{tmp}/missing", "--out", "{tmp}/file.txt/r.json"],
         "cannot write {tmp}/file.txt/r.json: {tmp}/file.txt is not a folder"),
        # A fit's checkpoints, which it would fail to save when its first epoch ends.
        (["benchmark", "cifar10", "--data", "{tmp}/missing", "--set",
          "checkpoint_dir='{tmp}/file.txt/ckpt'"],
         "checkpoint_dir='{tmp}/file.txt/ckpt' cannot hold checkpoints: {tmp}/file.txt is not "
         "a folder"),
        ([*DEMO_TINY, "--set", "checkpoint_dir='{tmp}/file.txt'"],
         "checkpoint_dir='{tmp}/file.txt' cannot hold checkpoints: {tmp}/file.txt is not a folder"),
        ([*DEMO_TINY, "--json", "{tmp}"], "cannot write {tmp}: it is a folder"),
        ([*DEMO_TINY, "--json", "{tmp}/file.txt/new/d.json"],
         "cannot write {tmp}/file.txt/new/d.json: {tmp}/file.txt is not a folder"),
    ],
)
def test_unwritable_output_is_a_usage_error(argv, message, tmp_path):
    (tmp_path / "file.txt").write_text("")
    code, out, err = run_main([arg.format(tmp=tmp_path) for arg in argv])
    assert code == 2 and "usage:" in err
    assert message.format(tmp=tmp_path) in err
    assert out == ""  # nothing ran
    assert sorted(os.listdir(tmp_path)) == ["file.txt"]  # and the check left nothing


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
@pytest.mark.parametrize(
    "argv", [["benchmark", "cifar10", "--data", "missing", "--out"], [*DEMO_TINY, "--json"]]
)
def test_output_in_a_folder_that_cannot_be_created(argv):
    # /proc accepts no new files, not even from root.
    code, out, err = run_main([*argv, "/proc/nope/r.json"])
    assert code == 2 and out == ""
    assert "cannot write /proc/nope/r.json: no file can be created in /proc" in err


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
@pytest.mark.parametrize(
    "folder, message",
    [({"checkpoint_dir": "/proc/nope"}, "checkpoint_dir='/proc/nope' cannot hold checkpoints"),
     ({"memory": "/proc/nope"}, "memory='/proc/nope' cannot hold the cache")],
)
def test_folder_that_cannot_be_created_is_refused_before_training(digits_split, folder, message):
    Xs, ys, Xt, _ = digits_split
    model = SupremeClusterer(5, pretrain_epochs=1, max_epochs=1, **folder)
    with pytest.raises(ValueError, match=(
        re.escape(message) + r": no file can be created in /proc \(.+\); give a path in a "
        r"writable folder"
    )):
        model.fit(Xt, source=(Xs, ys))
    # Refused before the initial K-means and the pretraining: nothing was fitted.
    assert not hasattr(model, "n_clusters_") and not hasattr(model, "net_")


def test_resume_rejects_a_file_that_is_no_benchmark_result(tmp_path):
    # Before the data is loaded (it does not exist), each error names the file.
    common = ["benchmark", "cifar10", "--data", str(tmp_path / "missing"), "--smoke",
              "--resume", "--out"]
    csv = tmp_path / "results.csv"
    csv.write_text("seed,acc\n0,0.5\n")
    code, _, err = run_main([*common, str(csv)])
    assert code == 2 and f"{csv} is not a JSON file (Expecting value" in err
    binary = tmp_path / "results.npz"
    binary.write_bytes(b"\x93NUMPY\xff\x00")
    code, _, err = run_main([*common, str(binary)])
    assert code == 2 and f"{binary} is not a JSON file" in err

    path = tmp_path / "other.json"
    # Each file but the first three differs from a well-formed one in one field.
    valid = {"benchmark": "cifar10", "protocol": {}, "params": {}, "runs": [{"seed": 0}]}
    for content in [
        {}, [1, 2], {"dataset": "digits", "runs": []},  # the demo's
        {**valid, "runs": [{"acc": 0.5}]},
        {**valid, "benchmark": "svhn"},
        {k: v for k, v in valid.items() if k != "runs"},
        {**valid, "runs": {"0": {"seed": 0}}},
        # Without its settings, a resume could not tell runs of other settings apart.
        {**valid, "params": None},
        {k: v for k, v in valid.items() if k != "params"},
        {**valid, "protocol": None},
    ]:
        path.write_text(json.dumps(content))
        code, _, err = run_main([*common, str(path)])
        assert code == 2 and f"{path} is not the results file of a cifar10 benchmark run" in err


@pytest.mark.slow
def test_python_dash_m_entry_point():
    # The module runs as a program and hands main's exit code to the shell.
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_supreme", "benchmark", "cifar10"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2 and "--data" in result.stderr


# -------------------------------------------------------------------------- helpers
@pytest.mark.parametrize(
    "text, expected",
    [
        ("tau=0.1", ("tau", 0.1)),
        ("max_epochs = 80", ("max_epochs", 80)),
        ("init_pca=False", ("init_pca", False)),
        ("backbone=cnn", ("backbone", "cnn")),
        ("backbone = cnn", ("backbone", "cnn")),
        ("backbone='resnet18'", ("backbone", "resnet18")),
        ("backbone_params={'width': 8}", ("backbone_params", {"width": 8})),
        ("device=cuda:1", ("device", "cuda:1")),
        # JSON too: null, true and false were strings, which made folders named so.
        ("memory=null", ("memory", None)),
        ("checkpoint_dir=false", ("checkpoint_dir", False)),
        ('backbone_params={"width": 16, "x": true}',
         ("backbone_params", {"width": 16, "x": True})),
        ('freeze=["backbone.stem.*"]', ("freeze", ["backbone.stem.*"])),
        # A string that reads as something else keeps its quotes.
        ("memory='null'", ("memory", "null")),
    ],
)
def test_parse_override(text, expected):
    assert parse_override(text) == expected


@pytest.mark.parametrize(
    "text, problem",
    [
        ("backbone_params={'width': 8", "'{' was never closed"),
        ("backbone_params={width: 8}", "width is a bare name, not a value"),
        ('backbone_params={"width": 8, "x": True, "y": null}', "null is a bare name"),
        ("backbone_params={'width': 2 ** 3}", "it holds an expression, not only values"),
        ("tau={[]: 1}", "unhashable type: 'list'"),
        ("backbone='resnet18", "unterminated string literal"),
        ("freeze=" + "[" * 1000 + "]" * 1000, "too many nested parentheses"),
    ],
)
def test_parse_override_names_the_key_and_the_problem(text, problem):
    # A value that starts like a literal ({, [, (, or a quote) is never kept as a string.
    key, _, value = text.partition("=")
    with pytest.raises(argparse.ArgumentTypeError) as error:
        parse_override(text)
    message = str(error.value)
    assert message.startswith(f"{key}: cannot read {value!r} as a Python literal or JSON: ")
    assert problem in message


def test_torch_threads_sets_and_restores_the_number():
    torch.set_num_threads(3)  # the caller's (conftest restores the test's)
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 3
    with pytest.raises(RuntimeError, match="failed fit"):
        with torch_threads(2):
            raise RuntimeError("failed fit")
    assert torch.get_num_threads() == 3
    with torch_threads(None):
        assert torch.get_num_threads() == 3


def test_output_under_a_link_to_nothing_is_refused(tmp_path):
    # The link exists (os.makedirs could not make a folder there), but leads nowhere.
    os.symlink(tmp_path / "gone", tmp_path / "link")
    with pytest.raises(ValueError, match=f"{tmp_path / 'link'} is not a folder"):
        check_writable(tmp_path / "link" / "r.json")
    with pytest.raises(FileExistsError):
        write_json(tmp_path / "link" / "r.json", {})


def test_stratified_subsample():
    y = np.repeat([3, 7, 9], [10, 4, 6])
    keep = stratified_subsample(y, 5, random_state=0)
    # Sorted, distinct, and min(5, class size) of each class.
    assert np.all(np.diff(keep) > 0)
    assert {int(c): int(n) for c, n in zip(*np.unique(y[keep], return_counts=True))} == {
        3: 5, 7: 4, 9: 5
    }
    np.testing.assert_array_equal(keep, stratified_subsample(y, 5, random_state=0))
    draws = {tuple(stratified_subsample(y, 5, random_state=seed)) for seed in range(5)}
    assert len(draws) > 1


def test_write_json_replaces_atomically(tmp_path, monkeypatch):
    path = tmp_path / "out" / "results.json"
    write_json(path, {"a": np.float32(0.5), "b": (1, 2), "c": float("nan"), "d": {(0, 1): 2}})
    assert json.loads(path.read_text()) == {"a": 0.5, "b": [1, 2], "c": "nan", "d": {"(0, 1)": 2}}

    # A write that fails half-way leaves the previous file whole and no temporary file.
    def broken_dump(obj, f, **kwargs):
        f.write('{"half": ')
        raise OSError("disk full")

    monkeypatch.setattr(json, "dump", broken_dump)
    with pytest.raises(OSError, match="disk full"):
        write_json(path, {"a": 1})
    assert json.loads(path.read_text())["a"] == 0.5
    assert os.listdir(path.parent) == ["results.json"]


# ----------------------------------------------------------------------- benchmark
def check_benchmark_report(results, printed, *, n_seeds, n_target, argv, n_test=15):
    """Every field of a finished benchmark is present, finite and agrees with the print.

    ``n_test``: the source's test images (the fake folder's 3 per class by default)."""
    assert set(results) == {
        "benchmark", "complete", "protocol", "params", "seeds", "runs", "results", "timing",
        "trace", "paper", "environment", "source_test_accuracy",
    }
    # Scored by epoch only with --trace-every.
    assert (results["trace"] is None) == ("--trace-every" not in argv)
    assert results["complete"] is True and results["seeds"] == list(range(n_seeds))
    protocol = results["protocol"]
    assert protocol["source_classes"] == list(CIFAR10_CLASSES[:5])
    assert protocol["target_classes"] == list(CIFAR10_CLASSES[5:])
    assert protocol["n_target"] == n_target and protocol["n_source"] == n_target
    assert protocol["n_source_test"] == n_test
    assert protocol["smoke"] is True and protocol["load_seconds"] >= 0
    assert results["params"]["backbone"] == "cnn" and "random_state" not in results["params"]

    assert [run["seed"] for run in results["runs"]] == results["seeds"]
    for run in results["runs"]:
        for key in ("kmeans_pretrained", "supreme"):
            assert set(run[key]) == {"acc", "nmi", "ari"}
            assert 1 / 5 <= run[key]["acc"] <= 1
            assert all(math.isfinite(v) for v in run[key].values())
        assert run["pretrain_epochs"] == results["params"]["pretrain_epochs"]
        assert run["clustering_epochs"] == results["params"]["max_epochs"]
        # A fraction of the source's test images: a whole number of them right.
        n_right = run["source_test_accuracy"] * n_test
        assert 0 <= n_right <= n_test and n_right == pytest.approx(round(n_right))
        if f"seed {run['seed']}: kept from" not in printed:  # fitted by this call
            assert f"source test ACC {run['source_test_accuracy']:.3f}" in printed
        for name in ("pretrain_seconds", "clustering_seconds", "fit_seconds"):
            assert math.isfinite(run[name]) and run[name] > 0
        assert run["fit_seconds"] > run["pretrain_seconds"] + run["clustering_seconds"]
        assert run["target_images_per_second"] == pytest.approx(
            n_target * run["clustering_epochs"] / run["clustering_seconds"]
        )
        assert math.isfinite(run["steady_target_images_per_second"])
        assert run["steady_target_images_per_second"] > 0
    for key in ("kmeans_pretrained", "supreme"):
        for metric in ("acc", "nmi", "ari"):
            stat = results["results"][key][metric]
            assert_finite_stat(stat)
            assert stat == pytest.approx(mean_std([run[key][metric] for run in results["runs"]]))
    for name in ("pretrain_seconds", "clustering_seconds", "fit_seconds",
                 "target_images_per_second", "steady_target_images_per_second"):
        assert_finite_stat(results["timing"][name])
    assert results["paper"] == PAPER_TABLE1_CIFAR10
    stat = results["source_test_accuracy"]
    assert stat == pytest.approx(mean_std([run["source_test_accuracy"] for run in results["runs"]]))
    assert (f"Pretrained network, accuracy on the {n_test} test images of the source "
            f"classes: {format_mean_std(stat)}") in printed

    env = results["environment"]
    assert env["device"] == expected_device()
    assert env["command"] == "python -m sklearn_supreme " + " ".join(argv)
    assert env["sklearn_supreme"] and env["torch"] == torch.__version__ and env["date"]
    assert "git_commit" in env
    assert env["torch_threads"] == 1  # the default of --smoke

    # The printed table shows the paper's rows and ours with the JSON's figures.
    for name, ref in PAPER_TABLE1_CIFAR10.items():
        assert f"{name} (paper, Table 1)" in printed and f"{ref['acc']:.3f}" in printed
    for key, name in [("kmeans_pretrained", "K-means, pretrained features"),
                      ("supreme", "SUPREME")]:
        row = next(line for line in printed.splitlines() if line.startswith(f"{name} (ours)"))
        for metric in ("acc", "nmi", "ari"):
            assert format_mean_std(results["results"][key][metric]) in row
    assert "target images/s" in printed and env["device"] in printed
    assert f"Command: {env['command']}" in printed


@pytest.fixture(scope="module")
def fake_cifar10(tmp_path_factory):
    """A CIFAR-10 layout of random 32x32 images, 6 per class in the train split and 3 in
    the test split, as a folder."""
    from PIL import Image

    root = tmp_path_factory.mktemp("fake_cifar10")
    rng = np.random.default_rng(0)
    for split, n_images in [("train", 6), ("test", 3)]:
        for name in CIFAR10_CLASSES:
            os.makedirs(root / split / name)
            for i in range(n_images):
                pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{i:04d}.png")
    return root


def test_benchmark_smoke_on_a_small_folder(fake_cifar10, tmp_path):
    torch.set_num_threads(2)  # not --smoke's default, which must win (conftest restores)
    out = tmp_path / "results.json"
    argv = ["benchmark", "cifar10", "--data", str(fake_cifar10), "--smoke", "--per-class", "4",
            "--seeds", "2", "--out", str(out), "--cache-dir", str(tmp_path / "cache")]
    code, printed, err = run_main(argv)
    assert code == 0, err
    results = json.loads(out.read_text())
    check_benchmark_report(results, printed, n_seeds=2, n_target=20, argv=argv)
    assert "SMOKE" in printed


def test_benchmark_checks_n_clusters_against_the_loaded_data(fake_cifar10, tmp_path):
    # 4 target images per class: 20 in all, fewer than 50 clusters. Refused once the
    # data is loaded, before any fit and before a results file is written.
    out, argv = _smoke_benchmark_argv(fake_cifar10, tmp_path)
    code, printed, err = run_main([*argv, "--set", "n_clusters=50"])
    assert code == 2 and "usage:" in err
    assert "n_samples=20 should be >= n_clusters=50" in err
    assert not out.exists()


def _smoke_benchmark_argv(fake_cifar10, tmp_path):
    """The results file and the arguments of a smoke benchmark writing it, seeds aside."""
    out = tmp_path / "results.json"
    return out, ["benchmark", "cifar10", "--data", str(fake_cifar10), "--smoke", "--per-class",
                 "4", "--out", str(out), "--cache-dir", str(tmp_path / "cache")]


def test_benchmark_resume_keeps_finished_seeds(fake_cifar10, tmp_path):
    out, common = _smoke_benchmark_argv(fake_cifar10, tmp_path)
    # A resume with no file yet (the first of several sessions) starts one.
    assert not out.exists()
    code, _, err = run_main([*common, "--seeds", "1", "--resume"])
    assert code == 0, err
    first = json.loads(out.read_text())
    assert first["runs"][0]["machine"] == expected_device()

    argv = [*common, "--seeds", "2", "--resume"]
    code, printed, err = run_main(argv)
    assert code == 0, err
    assert "seed 0: kept from" in printed
    results = json.loads(out.read_text())
    check_benchmark_report(results, printed, n_seeds=2, n_target=20, argv=argv)
    assert results["runs"][0] == first["runs"][0]  # not refitted
    assert results["runs"][1]["seed"] == 1

    # Other settings or another protocol are not mixed into the same file.
    code, _, err = run_main([*common, "--seeds", "2", "--resume", "--set", "tau=0.5"])
    assert code == 2 and "other settings (tau)" in err
    code, _, err = run_main([*common[:-4], "--per-class", "3", *common[-4:], "--resume"])
    assert code == 2 and "another protocol" in err
    assert json.loads(out.read_text()) == results


def test_benchmark_trace_scores_epochs_like_labels(fake_cifar10, tmp_path):
    out = tmp_path / "results.json"
    argv = ["benchmark", "cifar10", "--data", str(fake_cifar10), "--smoke", "--per-class", "4",
            "--seeds", "2", "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
            "--set", "max_epochs=5", "--trace-every", "2"]
    code, printed, err = run_main(argv)
    assert code == 0, err
    results = json.loads(out.read_text())
    check_benchmark_report(results, printed, n_seeds=2, n_target=20, argv=argv)
    for run in results["runs"]:
        # Epochs 2 and 4 of 5; the trace is scored after the fit, like labels_.
        assert [row["epoch"] for row in run["trace"]] == [2, 4]
        assert f"seed {run['seed']}: ACC by epoch 2: {run['trace'][0]['acc']:.3f}, 4: " in printed
    for i, row in enumerate(results["trace"]):
        for metric in ("acc", "nmi", "ari"):
            values = [run["trace"][i][metric] for run in results["runs"]]
            assert row[metric]["mean"] == pytest.approx(np.mean(values))
    assert "SUPREME ACC by clustering epoch (mean over seeds): 2: " in printed

    # A trace point on the last epoch scores exactly what labels_ does.
    code, _, err = run_main([*argv[:-1], "5", "--seeds", "1", "--out", str(tmp_path / "b.json")])
    assert code == 0, err
    run = json.loads((tmp_path / "b.json").read_text())["runs"][0]
    assert [row["epoch"] for row in run["trace"]] == [5]
    assert {m: run["trace"][0][m] for m in ("acc", "nmi", "ari")} == run["supreme"]


def test_benchmark_resume_with_fewer_seeds_keeps_the_other_runs(fake_cifar10, tmp_path):
    out, common = _smoke_benchmark_argv(fake_cifar10, tmp_path)
    code, _, err = run_main([*common, "--seeds", "2"])
    assert code == 0, err
    first = json.loads(out.read_text())

    # Seed 1 is not asked for again, but resuming never deletes finished work.
    argv = [*common, "--seeds", "1", "--resume"]
    code, printed, err = run_main(argv)
    assert code == 0, err
    results = json.loads(out.read_text())
    check_benchmark_report(results, printed, n_seeds=2, n_target=20, argv=argv)
    assert results["runs"] == first["runs"]
    assert f"seed 1: kept from {out} (not in this run's seeds)" in printed

    # The results hold the union of the file's seeds and the new ones, sorted by seed.
    results = run_cifar10_benchmark(
        fake_cifar10, seeds=[3, 1], smoke=True, per_class=4, cache_dir=tmp_path / "cache",
        out=str(out), resume=True, file=io.StringIO(),
    )
    assert results["seeds"] == [0, 1, 3] and [run["seed"] for run in results["runs"]] == [0, 1, 3]
    assert to_jsonable(results["runs"][:2]) == first["runs"]
    assert [run["seed"] for run in json.loads(out.read_text())["runs"]] == [0, 1, 3]


def test_benchmark_resume_names_what_differs(fake_cifar10, tmp_path):
    out = tmp_path / "results.json"
    common = ["benchmark", "cifar10", "--data", str(fake_cifar10), "--smoke",
              "--cache-dir", str(tmp_path / "cache"), "--seeds", "2"]
    code, _, err = run_main([*common, "--per-class", "4", "--seeds", "1", "--out", str(out)])
    assert code == 0, err

    # Settings of one side only (a file of another version) differ as well.
    earlier = json.loads(out.read_text())
    tau = earlier["params"].pop("tau")
    earlier["params"]["old_option"] = 1
    other = tmp_path / "other.json"
    other.write_text(json.dumps(earlier))
    code, _, err = run_main([*common, "--per-class", "4", "--out", str(other), "--resume"])
    assert code == 2 and "holds runs with other settings (old_option, tau): " in err
    assert f"old_option: 1 in the file, absent here; tau: absent in the file, {tau!r} here" in err
    # A setting of None is not an absent one.
    earlier["params"] = {**json.loads(out.read_text())["params"], "new_option": None}
    other.write_text(json.dumps(earlier))
    code, _, err = run_main([*common, "--per-class", "4", "--out", str(other), "--resume"])
    assert code == 2 and "other settings (new_option): new_option: None in the file, absent" in err
    # Settings are compared before the data is loaded: this --data does not exist.
    missing = [arg if arg != str(fake_cifar10) else str(tmp_path / "missing") for arg in common]
    code, _, err = run_main([*missing, "--per-class", "4", "--out", str(other), "--resume"])
    assert code == 2 and "other settings (new_option)" in err

    # The protocol's differences are named, a key of the file alone included.
    code, _, err = run_main([*common, "--per-class", "3", "--out", str(out), "--resume"])
    assert code == 2 and "holds runs of another protocol (n_source, n_target, per_class): " in err
    assert "per_class: 4 in the file, 3 here" in err
    earlier = json.loads(out.read_text())
    earlier["protocol"]["split"] = "test"
    earlier["protocol"]["resize"] = 64
    other.write_text(json.dumps(earlier))
    code, _, err = run_main([*common, "--per-class", "4", "--out", str(other), "--resume"])
    assert code == 2 and "another protocol (resize, split): resize: 64 in the file, absent" in err
    # The data's folder and load time may differ between machines.
    earlier = json.loads(out.read_text())
    earlier["protocol"].update(data="/elsewhere/cifar10", load_seconds=99.0)
    other.write_text(json.dumps(earlier))
    code, printed, err = run_main([*common, "--per-class", "4", "--out", str(other), "--resume"])
    assert code == 0, err
    assert "seed 0: kept from" in printed


class _EpochRecorder(Callback):
    """Records, at each epoch's end, the net's class and its callbacks' names."""

    def __init__(self):
        self.epochs = []

    def on_epoch_end(self, net, **kwargs):
        self.epochs.append((type(net).__name__, [name for name, _ in net.callbacks_]))


def test_benchmark_runs_the_users_callbacks_with_its_own(fake_cifar10, tmp_path):
    recorder = _EpochRecorder()
    results = run_cifar10_benchmark(
        fake_cifar10, seeds=[0], smoke=True, per_class=4, cache_dir=tmp_path / "cache",
        trace_every=1, callbacks=[recorder], file=io.StringIO(),
    )
    (run,) = results["runs"]
    assert [row["epoch"] for row in run["trace"]] == [1, 2]  # the trace's callback ran
    # The user's callback ran in both phases (1 pretraining and 2 clustering epochs),
    # before the trace's.
    assert [net for net, _ in recorder.epochs] == ["SourcePretrainNet", *["SupremeNet"] * 2]
    names = recorder.epochs[-1][1]
    assert names.index("_EpochRecorder") < names.index("_PretrainedSnapshot")
    assert names.index("_EpochRecorder") < names.index("_ClusteringSnapshots")

    # From the command line too; the callbacks are a recorded setting.
    out = tmp_path / "results.json"
    code, _, err = run_main([
        "benchmark", "cifar10", "--data", str(fake_cifar10), "--smoke", "--per-class", "4",
        "--seeds", "1", "--cache-dir", str(tmp_path / "cache"), "--out", str(out),
        "--set", "callbacks=[]", "--trace-every", "2",
    ])
    assert code == 0, err
    results = json.loads(out.read_text())
    assert results["params"]["callbacks"] == [] and results["runs"][0]["trace"][0]["epoch"] == 2


class _Noop(Callback):
    """A user's callback without parameters."""


def _mirror(X):
    """A user's perturbation: a plain function."""
    return X.flip(-1)


def test_benchmark_with_callbacks_can_be_resumed(fake_cifar10, tmp_path):
    # Callbacks and functions were recorded by their repr, which holds their memory
    # address: a resume, with new objects, always found "other settings".
    from skorch.callbacks import EarlyStopping

    out = tmp_path / "results.json"

    def run(seeds, patience=50):
        return run_cifar10_benchmark(
            fake_cifar10, seeds=seeds, smoke=True, per_class=4, cache_dir=tmp_path / "cache",
            out=str(out), resume=True, file=io.StringIO(), augment=_mirror,
            callbacks=[EarlyStopping(monitor="train_loss", patience=patience), _Noop()],
        )

    first = run([0])
    recorded = json.loads(out.read_text())["params"]
    assert not any(" at 0x" in callback for callback in recorded["callbacks"])
    assert recorded["callbacks"][1] == f"{__name__}._Noop()"
    assert recorded["augment"] == f"{__name__}._mirror"
    results = run([0, 1])
    assert [r["seed"] for r in results["runs"]] == [0, 1]
    assert to_jsonable(results["runs"][0]) == to_jsonable(first["runs"][0])  # not refitted
    # Callbacks of other parameters are other settings.
    with pytest.raises(ValueError, match="other settings \\(callbacks\\)"):
        run([0], patience=3)


def test_to_jsonable_names_objects_without_their_address():
    from sklearn_supreme._augment import ImagePerturbation
    from skorch.callbacks import EarlyStopping

    def augment(X):
        return X

    class Plain:
        pass

    # Each of them is recorded the same in another process, where addresses differ.
    values = {
        "callbacks": [EarlyStopping(patience=3), _Noop()],
        "augment": augment,
        "partial": functools.partial(augment, 1),
        "plain": Plain(),
    }
    assert to_jsonable(values) == {
        "callbacks": [
            "skorch.callbacks.training.EarlyStopping(load_best=False, lower_is_better=True, "
            "monitor='valid_loss', patience=3, sink='<built-in function print>', "
            "threshold=0.0001, threshold_mode='rel')",
            f"{__name__}._Noop()",
        ],
        "augment": f"{__name__}.test_to_jsonable_names_objects_without_their_address."
                   "<locals>.augment",
        "partial": "functools.partial(<function test_to_jsonable_names_objects_without_their_"
                   "address.<locals>.augment>, 1)",
        "plain": f"<{__name__}.test_to_jsonable_names_objects_without_their_address."
                 "<locals>.Plain object>",
    }
    # A repr without an address is kept, as earlier results files hold it.
    perturbation = ImagePerturbation()
    assert to_jsonable(perturbation) == repr(perturbation)
    assert to_jsonable(Plain) == repr(Plain)


def test_benchmark_records_the_estimated_n_clusters(fake_cifar10, tmp_path):
    out = tmp_path / "results.json"
    code, printed, err = run_main([
        "benchmark", "cifar10", "--data", str(fake_cifar10), "--smoke", "--per-class", "4",
        "--seeds", "1", "--cache-dir", str(tmp_path / "cache"), "--out", str(out),
        "--set", "n_clusters=auto",
    ])
    assert code == 0, err
    results = json.loads(out.read_text())
    (run,) = results["runs"]
    assert results["params"]["n_clusters"] == "auto"
    assert isinstance(run["n_clusters"], int) and 2 <= run["n_clusters"] <= 20
    assert "(K=auto: estimated from the source per seed)" in printed
    assert f"; estimated K={run['n_clusters']}; " in printed
    report = "n_clusters='auto' estimated K (by seed; both methods use it): "
    assert f"{report}{run['n_clusters']} (0)" in printed

    # The recorded K and both methods' scores are those of the seed's own fit.
    from sklearn_supreme._cli import torch_threads
    from sklearn_supreme.benchmark import _prepare
    from sklearn_supreme.metrics import clustering_report

    prepared = _prepare(fake_cifar10, True, 4, tmp_path / "cache", {"n_clusters": "auto"})
    with torch_threads(1):  # as the smoke run
        model = SupremeClusterer(**prepared["params"], random_state=0).fit(
            prepared["target"][0], source=prepared["source"]
        )
    y_target = prepared["target"][1]
    assert run["n_clusters"] == model.n_clusters_
    assert run["kmeans_pretrained"] == pytest.approx(clustering_report(y_target, model.initial_labels_))
    assert run["supreme"] == pytest.approx(clustering_report(y_target, model.labels_))

    # An int K is in the settings; the runs do not repeat it.
    out = tmp_path / "k5.json"
    code, _, err = run_main([
        "benchmark", "cifar10", "--data", str(fake_cifar10), "--smoke", "--per-class", "4",
        "--seeds", "1", "--cache-dir", str(tmp_path / "cache"), "--out", str(out),
    ])
    assert code == 0, err
    assert "n_clusters" not in json.loads(out.read_text())["runs"][0]


def test_an_interrupted_run_keeps_its_finished_seeds_on_disk(fake_cifar10, tmp_path, monkeypatch):
    # The file is rewritten after each seed, and a resume leaves it as it is until its
    # first new seed is done: a fit cut off (Ctrl-C, a time limit) loses no finished run.
    out, common = _smoke_benchmark_argv(fake_cifar10, tmp_path)
    fit, fits = SupremeClusterer.fit, []

    def fit_once(self, *args, **kwargs):
        fits.append(self.random_state)
        if len(fits) > 1:
            raise KeyboardInterrupt
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(SupremeClusterer, "fit", fit_once)
    with pytest.raises(KeyboardInterrupt):
        run_main([*common, "--seeds", "2"])
    first = json.loads(out.read_text())
    assert first["complete"] is False and [run["seed"] for run in first["runs"]] == [0]
    assert first["results"]["supreme"]["acc"]["mean"] == first["runs"][0]["supreme"]["acc"]
    with pytest.raises(KeyboardInterrupt):
        run_main([*common, "--seeds", "2", "--resume"])
    assert fits == [0, 1, 1]
    assert json.loads(out.read_text()) == first


def test_summarize_benchmark_by_hand():
    from sklearn_supreme.benchmark import _summarize_benchmark

    def run(seed, acc, seconds, trace_epochs):
        scores = {"acc": acc, "nmi": acc / 2, "ari": acc / 4}
        return {
            "seed": seed, "kmeans_pretrained": {**scores, "acc": 1 - acc}, "supreme": scores,
            "pretrain_seconds": seconds, "clustering_seconds": 2 * seconds,
            "fit_seconds": 4 * seconds, "target_images_per_second": 10 * seconds,
            "steady_target_images_per_second": 20 * seconds,
            "pretrain_epochs": 1, "clustering_epochs": 2,
            "trace": [{"epoch": e, "acc": acc + e, "nmi": acc, "ari": acc} for e in trace_epochs],
        }

    results = {"runs": [run(0, 0.5, 1.0, [2, 4]), run(1, 0.7, 3.0, [2, 4])]}
    _summarize_benchmark(results)
    # Population std over the seeds: of 0.5 and 0.7, 0.1; of 4 and 12 seconds, 4.
    approx = pytest.approx
    assert results["results"]["supreme"]["acc"] == approx({"mean": 0.6, "std": 0.1})
    assert results["results"]["supreme"]["ari"] == approx({"mean": 0.15, "std": 0.025})
    assert results["results"]["kmeans_pretrained"]["acc"] == approx({"mean": 0.4, "std": 0.1})
    assert results["timing"]["fit_seconds"] == approx({"mean": 8.0, "std": 4.0})
    assert results["timing"]["steady_target_images_per_second"] == approx({"mean": 40, "std": 20})
    assert [row["epoch"] for row in results["trace"]] == [2, 4]
    assert results["trace"][1]["acc"] == approx({"mean": 4.6, "std": 0.1})
    # Traces at other epochs (a resume with another --trace-every), or none: no mean.
    for other in ([1, 2], [2], None):
        second = run(1, 0.7, 3.0, other or [])
        if other is None:
            del second["trace"]
        results = {"runs": [run(0, 0.5, 1.0, [2, 4]), second]}
        _summarize_benchmark(results)
        assert results["trace"] is None


def test_random_state_is_refused_before_loading(tmp_path):
    # The seeds set it: a random_state given as well was silently overridden.
    with pytest.raises(ValueError, match="random_state is set by the seeds"):
        run_cifar10_benchmark(tmp_path / "missing", seeds=[0], smoke=True, random_state=1,
                              file=io.StringIO())
    with pytest.raises(ValueError, match="random_state is set by the seeds"):
        run_digits_demo(seeds=[0], random_state=1, file=io.StringIO())
    with pytest.raises(ValueError, match="seeds must hold at least one seed"):
        run_digits_demo(seeds=[], file=io.StringIO())


def test_smoke_takes_its_images_per_class_unless_told(fake_cifar10, tmp_path, monkeypatch):
    from sklearn_supreme import benchmark

    monkeypatch.setattr(benchmark, "SMOKE_PER_CLASS", 3)  # the fake set has 6 per class
    cache = tmp_path / "cache"
    for smoke, per_class, expected in [(True, None, 3), (True, 4, 4), (False, None, None)]:
        protocol = benchmark._prepare(fake_cifar10, smoke, per_class, cache, {})["protocol"]
        assert protocol["per_class"] == expected
        assert protocol["n_source"] == protocol["n_target"] == 5 * (expected or 6)


def test_protocol_records_the_data_path_the_loader_read(fake_cifar10, tmp_path, monkeypatch):
    from sklearn_supreme import benchmark

    # "~/cifar" was recorded as <cwd>/~/cifar, a path that does not exist.
    monkeypatch.setenv("HOME", str(fake_cifar10.parent))
    data = os.path.join("~", fake_cifar10.name)
    protocol = benchmark._prepare(data, True, 2, tmp_path / "cache", {})["protocol"]
    assert protocol["data"] == str(fake_cifar10)


@pytest.mark.parametrize("per_class", [0, -3, 2.5, True])
def test_protocol_refuses_a_per_class_that_is_no_count(fake_cifar10, per_class):
    with pytest.raises(ValueError, match=rf"per_class must be an int >= 1 or None, got "
                                         rf"{re.escape(repr(per_class))}"):
        load_cifar10_protocol(fake_cifar10, per_class)


def test_protocol_selects_the_images_of_the_classes_it_keeps(fake_cifar10, tmp_path):
    # One selection of the loaded images: the same images and labels as splitting the
    # classes first and subsampling each part.
    cifar = load_cifar10(fake_cifar10, split="train", cache_dir=tmp_path)
    Xs, ys, Xt, yt = split_source_target(cifar.images, cifar.target, range(5))
    keep_s, keep_t = stratified_subsample(ys, 4, 0), stratified_subsample(yt, 4, 1)
    expected = Xs[keep_s], ys[keep_s], Xt[keep_t], yt[keep_t]
    for got, want in zip(load_cifar10_protocol(fake_cifar10, 4, tmp_path), expected):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["cifar10", "--per-class", "abc"], "must be an integer >= 1 or 'all', got 'abc'"),
        (["cifar10", "--per-class", "0"], "must be an integer >= 1 or 'all', got '0'"),
        (["cifar10"], "cifar10 needs --data"),
        (["cifar10", "--data", "{tmp}/missing"], "missing"),
    ],
)
def test_model_selection_script_argument_errors(argv, message, tmp_path, capsys):
    script = _load_script("model_selection")
    argv = [arg.format(tmp=tmp_path) for arg in argv]
    with pytest.raises(SystemExit) as exit_info:
        script.main([*argv, "--output", str(tmp_path / "out.json")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "usage:" in err


def test_benchmark_rejects_empty_seeds_before_loading(tmp_path):
    out = tmp_path / "results.json"
    with pytest.raises(ValueError, match="seeds must hold at least one seed"):
        run_cifar10_benchmark(tmp_path / "missing", seeds=[], smoke=True, out=str(out),
                              file=io.StringIO())
    assert not out.exists()  # no "complete": false file left behind


@pytest.mark.parametrize(
    "seeds, message",
    [
        # The fit would refuse it as random_state, after the load and a file written.
        ([-1], "seeds must be in [0, 2**32 - 1] (random_state's range); got -1."),
        ([2**32], "seeds must be in [0, 2**32 - 1] (random_state's range); got 4294967296."),
        # Fitted twice and counted twice in "mean ± std over 3 seeds".
        ([0, 1, 0], "seeds holds 0 more than once, which would fit the same run again"),
        # Not a count of seeds: the int was not iterable, a bare TypeError.
        (3, "seeds must be a sequence of seeds, such as [0, 1, 2] (range(3) for three)"),
        # int() made 1.5 the seed 1, and True the seed 1.
        ([1.5], "seeds must be integers; got 1.5."),
        ([True], "seeds must be integers; got True."),
        (["0"], "seeds must be integers; got '0'."),
    ],
)
def test_benchmark_checks_the_seeds_before_loading(tmp_path, seeds, message):
    out = tmp_path / "results.json"
    with pytest.raises(ValueError, match=re.escape(message)):  # this data does not exist
        run_cifar10_benchmark(tmp_path / "missing", seeds=seeds, smoke=True, out=str(out),
                              file=io.StringIO())
    assert not out.exists()
    with pytest.raises(ValueError, match=re.escape(message)):  # before any fit
        run_digits_demo(seeds=seeds, file=io.StringIO())


def test_whole_float_and_numpy_seeds_are_ints():
    from sklearn_supreme._cli import check_seeds

    assert check_seeds([np.int64(3), 2.0, np.float32(1)]) == [3, 2, 1]
    assert all(type(seed) is int for seed in check_seeds([np.int64(3), 2.0]))


def test_a_backbone_that_cannot_run_is_a_usage_error(tmp_path):
    # Built and run on two blank images before the data is loaded (this --data does not
    # exist): it failed at the first fit, after minutes of loading.
    with warnings.catch_warnings():
        # torch's, as it builds the zero-width layers whose failure is tested here.
        warnings.filterwarnings("ignore", "Initializing zero-element tensors", UserWarning)
        code, out, err = run_main([
            "benchmark", "cifar10", "--data", str(tmp_path / "missing"), "--smoke",
            "--set", "backbone_params={'width': 0}",
        ])
    assert code == 2 and out == ""
    assert "The backbone failed on input of shape (32, 32, 3)" in err


def test_benchmark_refuses_to_overwrite_finished_runs(tmp_path):
    # Without --resume, the file was overwritten with "runs": [] before the first fit:
    # a failed or interrupted run lost every finished seed. Refused before the load
    # (this --data does not exist), the file untouched.
    out = tmp_path / "results.json"
    finished = {"benchmark": "cifar10", "complete": False, "protocol": {}, "params": {},
                "runs": [{"seed": 0}, {"seed": 1}]}
    out.write_text(json.dumps(finished))
    common = ["benchmark", "cifar10", "--data", str(tmp_path / "missing"), "--smoke",
              "--out", str(out)]
    code, printed, err = run_main(common)
    assert code == 2 and printed == ""
    assert (f"{out} holds 2 finished runs of the cifar10 benchmark (seeds 0, 1): pass resume "
            "(--resume) to keep them and run only the missing seeds, or give another out "
            "(--out); delete the file to start over." in err)
    with pytest.raises(ValueError, match="holds 2 finished runs"):
        run_cifar10_benchmark(tmp_path / "missing", seeds=[0], smoke=True, out=str(out),
                              file=io.StringIO())
    assert json.loads(out.read_text()) == finished

    # Any other file is the user's to overwrite: these fail at the missing data.
    for content in ["seed,acc\n0,0.5\n", json.dumps({"dataset": "digits", "runs": [{}]}),
                    json.dumps({**finished, "runs": []})]:
        out.write_text(content)
        code, _, err = run_main(common)
        assert code == 2 and "No such directory" in err
        assert out.read_text() == content


def test_a_failed_first_fit_leaves_the_output_file_as_it_was(fake_cifar10, tmp_path, monkeypatch):
    # The file is first written when a seed is done: what it held (here another
    # command's results) is not replaced by an empty one before the first fit.
    out, common = _smoke_benchmark_argv(fake_cifar10, tmp_path)
    out.write_text('{"dataset": "digits"}')

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(SupremeClusterer, "fit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_main([*common, "--seeds", "1"])
    assert out.read_text() == '{"dataset": "digits"}'


def test_benchmark_function_refuses_an_empty_trace(fake_cifar10, tmp_path):
    # Refused before loading: every run's trace would be empty.
    with pytest.raises(ValueError, match="trace_every=3 is larger than max_epochs=2"):
        run_cifar10_benchmark(
            fake_cifar10, seeds=[0], smoke=True, per_class=4, cache_dir=tmp_path / "cache",
            trace_every=3, file=io.StringIO(),
        )
    assert not (tmp_path / "cache").exists()


def test_clustering_snapshots_copy_the_weights_of_the_clustering_phase():
    from sklearn.datasets import load_digits

    from sklearn_supreme import SupremeClusterer
    from sklearn_supreme.benchmark import _ClusteringSnapshots

    X, y = load_digits(return_X_y=True)
    snapshots = _ClusteringSnapshots(every=2)
    model = SupremeClusterer(
        n_clusters=2, pretrain_epochs=3, max_epochs=4, batch_size=64, random_state=0,
        callbacks=[snapshots],
    ).fit(X[y >= 8], source=(X[y < 3], y[y < 3]))
    # Clustering epochs only (3 pretraining epochs would have given epoch 2 too, but
    # of the other phase): epochs 2 and 4, the last one the fitted weights.
    assert sorted(snapshots.states) == [2, 4]
    final = dict(model.net_.module_.named_parameters())
    assert all(torch.equal(snapshots.states[4][name], final[name].detach()) for name in final)
    # Copies, not views of the live weights: epoch 2's differ from the final ones.
    assert not all(torch.equal(snapshots.states[2][name], final[name].detach()) for name in final)


def test_source_test_accuracy_scores_the_network_as_pretraining_left_it():
    from sklearn_supreme.benchmark import _PretrainedSnapshot, _source_test_accuracy

    X, y = load_digits(return_X_y=True)
    source = np.flatnonzero(y < 5)
    train, test = source[::2], source[1::2]  # held-out images of the source classes
    params = dict(n_clusters=5, pretrain_epochs=5, max_epochs=2, batch_size=64, random_state=0)

    def fit(labels):
        snapshot = _PretrainedSnapshot()
        model = SupremeClusterer(**params, callbacks=[snapshot])
        model.fit(X[y >= 5], source=(X[train], labels[train]))
        return model, snapshot

    model, snapshot = fit(y)
    accuracy = _source_test_accuracy(model, snapshot.state, X[test], y[test], y[train])
    # Five epochs of supervised training learn digits 0-4 well (by chance: 0.2).
    assert accuracy > 0.9
    # The copy is the pretraining's end, not the fit's: the clustering phase trains
    # the source head further (the source term), and the copy holds the old weights.
    final = model.net_.module_.source_head.weight.detach()
    assert not torch.equal(snapshot.state["source_head.weight"], final)

    # Other class labels: the head's outputs are mapped back to them (same fit).
    model, snapshot = fit(y * 10 + 7)
    assert _source_test_accuracy(
        model, snapshot.state, X[test], y[test] * 10 + 7, y[train] * 10 + 7
    ) == accuracy

    # Nothing to score when the fit does not pretrain.
    params["pretrain_epochs"] = 0
    model, snapshot = fit(y)
    assert snapshot.state is None
    assert _source_test_accuracy(model, None, X[test], y[test], y[train]) is None


def test_benchmark_without_pretraining_has_no_source_test_accuracy(fake_cifar10, tmp_path):
    printed = io.StringIO()
    results = run_cifar10_benchmark(
        fake_cifar10, seeds=[0, 1], smoke=True, per_class=4, cache_dir=tmp_path / "cache",
        pretrain_epochs=0, file=printed,
    )
    assert [run["source_test_accuracy"] for run in results["runs"]] == [None, None]
    assert results["source_test_accuracy"] is None
    assert "source test" not in printed.getvalue()
    assert "SUPREME (ours)" in printed.getvalue()


def test_benchmark_needs_the_test_split_for_the_source_test_images(fake_cifar10, tmp_path):
    train_only = tmp_path / "train_only"
    shutil.copytree(fake_cifar10 / "train", train_only / "train")
    with pytest.raises(ValueError, match=(
        "scores the source-pretrained network on the test images of the source classes, "
        r"but the test split could not be loaded: Split 'test' not found .*\['train'\]"
    )):
        run_cifar10_benchmark(train_only, seeds=[0], smoke=True, per_class=4,
                              cache_dir=tmp_path / "cache", file=io.StringIO())


@pytest.mark.slow
@pytest.mark.skipif(not CIFAR10_ARCHIVE.is_file(), reason=f"{CIFAR10_ARCHIVE} is absent")
def test_benchmark_smoke_on_cifar10(tmp_path):
    out = tmp_path / "smoke.json"
    argv = ["benchmark", "cifar10", "--data", str(CIFAR10_ARCHIVE), "--smoke",
            "--out", str(out), "--cache-dir", str(tmp_path / "cache")]
    code, printed, err = run_main(argv)
    assert code == 0, err
    results = json.loads(out.read_text())
    # --smoke defaults: 100 images per class and 2 seeds.
    check_benchmark_report(results, printed, n_seeds=2, n_target=500, argv=argv, n_test=500)
    assert results["protocol"]["per_class"] == 100
    # The decoded images were cached in the given folder.
    assert any(name.endswith(".npz") for name in os.listdir(tmp_path / "cache"))


def _load_script(name):
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_session_falls_back_to_eager_when_compiling_fails(fake_cifar10, tmp_path, monkeypatch):
    # The device session's script, rehearsed on the CPU: the eager probe, then the
    # benchmark compiled; compiling fails here, so the benchmark reruns eager and both
    # the failure and the results are on disk.
    from sklearn_supreme._networks import SupremeNetwork

    def broken_compile(self, **kwargs):
        raise RuntimeError("inductor is broken here")

    monkeypatch.setattr(SupremeNetwork, "compile_encoder", broken_compile)
    session_script = _load_script("gpu_session")
    out = tmp_path / "out"
    code = session_script.main([
        "--data", str(fake_cifar10), "--out", str(out), "--smoke", "--per-class", "4",
        "--seeds", "1", "--cache-dir", str(tmp_path / "cache"), "--mode", "compile",
    ])
    assert code == 0
    session = json.loads((out / "session.json").read_text())
    probe = session["probe"]
    assert probe["mode"] == "eager" and probe["steady_target_images_per_second"] > 0
    assert probe["projected_fit_seconds"] == pytest.approx(
        session_script.projected_seconds(probe, session["params"])
    )
    assert [failure["mode"] for failure in session["failures"]] == ["compile"]
    assert "inductor is broken here" in session["failures"][0]["error"]
    assert session["benchmark_mode"] == "eager"
    results = json.loads((out / "cifar10.json").read_text())
    assert results["complete"] is True and results["params"]["compile"] is False
    assert results["protocol"]["n_target"] == 20


def test_gpu_session_keeps_the_seeds_a_failed_compiled_benchmark_finished(
    fake_cifar10, tmp_path, monkeypatch
):
    # The compiled benchmark fails after its first seed: the eager rerun can neither
    # continue those runs (other settings) nor overwrite them (refused), so they move
    # to cifar10_compile.json and the rerun writes cifar10.json.
    from sklearn_supreme._networks import SupremeNetwork

    monkeypatch.setattr(SupremeNetwork, "compile_encoder", lambda self, **kwargs: self)
    fit = SupremeClusterer.fit

    def second_compiled_fit_fails(self, *args, **kwargs):
        if self.compile and self.random_state == 1:
            raise RuntimeError("compiled fit failed")
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(SupremeClusterer, "fit", second_compiled_fit_fails)
    out = tmp_path / "out"
    code = _load_script("gpu_session").main([
        "--data", str(fake_cifar10), "--out", str(out), "--smoke", "--per-class", "4",
        "--seeds", "2", "--cache-dir", str(tmp_path / "cache"), "--mode", "compile",
        "--resume", "--trace-every", "0",
    ])
    assert code == 0
    session = json.loads((out / "session.json").read_text())
    kept = [failure["kept"] for failure in session["failures"]]
    assert kept == [str(out / "cifar10_compile.json")]
    compiled = json.loads((out / "cifar10_compile.json").read_text())
    assert compiled["params"]["compile"] is True and compiled["complete"] is False
    assert [run["seed"] for run in compiled["runs"]] == [0]
    results = json.loads((out / "cifar10.json").read_text())
    assert results["params"]["compile"] is False and results["complete"] is True
    assert [run["seed"] for run in results["runs"]] == [0, 1]


def test_profile_step_script_times_and_profiles_clustering_steps(tmp_path):
    # The GPU profiling script rehearsed on the CPU: each variant's figures per step
    # agree with each other, its operator table is written, and a fit too short to
    # time the asked-for steps is reported as a failure naming the fix.
    script = _load_script("profile_step")
    out = tmp_path / "profile"
    variants = ["eager", "eager_batch2x", "eager_freeze_early"]
    assert script.main(["--out", str(out), "--smoke", "--variants", *variants]) == 0
    report = json.loads((out / "profile.json").read_text())
    assert report["failures"] == []
    base_batch = report["base_params"]["batch_size"]
    assert set(report["backbone_gflop_per_image"]) == set(variants)
    for result, batch in zip(report["variants"], [base_batch, 2 * base_batch, base_batch]):
        name = result["variant"]
        assert result["overrides"] == script.VARIANTS[name](report["base_params"])
        gflop = result["backbone_gflop_per_image"]
        assert gflop == report["backbone_gflop_per_image"][name] == pytest.approx(
            script.backbone_gflop_per_image({**report["base_params"], **result["overrides"]})
        )
        assert result["steps_timed"] == 3 and result["wall_ms_per_step"] > 0
        assert result["target_images_per_second"] == pytest.approx(
            1e3 * batch / result["wall_ms_per_step"]
        )
        # Target, perturbation and source batches of the same size.
        assert result["backbone_tflop_per_second"] == pytest.approx(
            gflop * 3 * batch / result["wall_ms_per_step"]
        )
        assert result["device_kernel_ms_per_step"] is None  # no GPU here
        assert result["operator_calls_per_step"] > 0
        assert "convolution" in (out / f"profile_{result['variant']}.txt").read_text()

    code = script.main(["--out", str(out), "--smoke", "--variants", "eager", "--epochs", "1",
                        "--n", "64"])
    assert code == 1
    failure = json.loads((out / "profile.json").read_text())["failures"][0]
    assert failure["variant"] == "eager" and "raise --epochs" in failure["error"]


def test_profile_step_fp16_variant_patches_the_autocast_dtype_for_its_fit_only(
    tmp_path, monkeypatch
):
    # The fp16 variant makes bf16 autocast compute in fp16 during its own fit, records
    # it, and leaves bf16 behind for the variants after it.
    from sklearn_supreme._training import AUTOCAST_DTYPES

    script = _load_script("profile_step")
    seen = []
    fit = script.SupremeClusterer.fit

    def recording_fit(self, *args, **kwargs):
        seen.append(AUTOCAST_DTYPES["bfloat16"])
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(script.SupremeClusterer, "fit", recording_fit)
    out = tmp_path / "profile"
    assert script.main(
        ["--out", str(out), "--smoke", "--variants", "eager_fp16", "eager", "--n", "128"]
    ) == 0
    assert seen == [torch.float16, torch.bfloat16]
    assert AUTOCAST_DTYPES == {"float32": None, "bfloat16": torch.bfloat16}
    fp16, eager = json.loads((out / "profile.json").read_text())["variants"]
    assert fp16["autocast_patches"] == {"bfloat16": "torch.float16"}
    assert eager["autocast_patches"] == {}


def test_backbone_gflop_per_image_by_hand():
    # One 3x3 convolution, 3 -> 4 channels, on 32x32 pixels: 2 * 3 * 4 * 9 FLOP per
    # output pixel forward, as many again for the weights' gradient (the input needs none).
    script = _load_script("profile_step")
    conv = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Flatten())
    assert script.backbone_gflop_per_image({"backbone": conv}) * 1e9 == 2 * (2 * 3 * 4 * 9) * 32 * 32

    # Two of them, 3 -> 4 -> 4 channels. With the first frozen, the backward pass
    # computes the second's weight gradient and stops: no gradient for its input.
    two = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Conv2d(4, 4, 3, padding=1),
        torch.nn.Flatten(),
    )
    first, second = 2 * 3 * 4 * 9 * 32 * 32, 2 * 4 * 4 * 9 * 32 * 32

    def flop(freeze):  # the GFLOP figure back in FLOP, without its float rounding
        return round(script.backbone_gflop_per_image({"backbone": two, "freeze": freeze}) * 1e9)

    assert flop(["backbone.0.*"]) == first + 2 * second
    assert flop("backbone.*") == first + second  # the forward pass alone
    assert flop("factor.*") == 2 * first + 3 * second  # nothing of the backbone frozen


def test_profile_summary_counts_each_kernel_once():
    # As the kineto profiler lists it on CUDA: a 100 us kernel as a device event, and
    # again in the self device time of the CPU operator that launched it; a user
    # annotation on the device is a span over kernels, not a kernel.
    from types import SimpleNamespace

    from torch.autograd import DeviceType

    script = _load_script("profile_step")

    def event(device, device_us, cpu_us, annotation=False):
        return SimpleNamespace(
            device_type=device, self_device_time_total=device_us, self_cpu_time_total=cpu_us,
            count=2, is_user_annotation=annotation,
        )

    events = [
        event(DeviceType.CPU, 100.0, 30.0),  # aten::conv2d, which launched the kernel
        event(DeviceType.CUDA, 100.0, 0.0),  # the kernel
        event(DeviceType.CUDA, 150.0, 0.0, annotation=True),  # Optimizer.step span
    ]
    timer = SimpleNamespace(
        wall_seconds=0.4e-3, steps=2, profiled_steps=2, seen=30, skip=10, on_cuda=True,
        profiler=SimpleNamespace(key_averages=lambda: events),
    )
    summary = script.summarize(timer, batch_size=8, images_per_step=24, gflop_per_image=1.0)
    assert summary["wall_ms_per_step"] == pytest.approx(0.2)
    assert summary["device_kernel_ms_per_step"] == pytest.approx(0.05)  # 100 us / 2 steps
    assert summary["device_busy_fraction"] == pytest.approx(0.25)
    assert summary["host_ms_per_step_profiled"] == pytest.approx(0.015)
    assert summary["operator_calls_per_step"] == 1  # the host operator's 2 calls / 2 steps


def test_profile_step_counts_flops_only(tmp_path):
    script = _load_script("profile_step")
    assert script.main(["--out", str(tmp_path), "--smoke", "--count-flops-only"]) == 0
    report = json.loads((tmp_path / "profile.json").read_text())
    gflop = report["backbone_gflop_per_image"]
    assert set(gflop) == set(script.VARIANTS) and report["variants"] == []
    # freezing the backbone's early stages, then all of it, leaves less to compute
    assert gflop["eager"] > gflop["eager_freeze_early"] > gflop["eager_freeze_backbone"] > 0
    assert gflop["eager_batch2x"] == gflop["eager"]


def test_projected_seconds_by_hand():
    session_script = _load_script("gpu_session")
    timing = {"pretrain_first_epoch": 5.0, "pretrain_epoch": 1.0,
              "cluster_first_epoch": 7.0, "cluster_epoch": 2.0}
    # 5 + 29 * 1 + 7 + 99 * 2
    assert session_script.projected_seconds(
        timing, {"pretrain_epochs": 30, "max_epochs": 100}
    ) == 239.0


def test_model_selection_script_reports_tau_and_k(fake_cifar10, tmp_path):
    script = _load_script("model_selection")
    out = tmp_path / "ms.json"
    code = script.main([
        "cifar10", "--data", str(fake_cifar10), "--per-class", "4", "--seeds", "0",
        "--cv-splits", "2", "--k-max", "8", "--cache-dir", str(tmp_path / "cache"),
        "--output", str(out),
        "--set", "pretrain_epochs=1", "--set", "max_epochs=1",
        "--set", "backbone_params={'width': 4}",
    ])
    assert code == 0
    results = json.loads(out.read_text())
    taus = list(script.DATASETS["cifar10"]["taus"])
    tau = results["tau"]
    assert tau["taus"] == taus and np.shape(tau["oracle_acc"]["per_seed"]) == (1, len(taus))
    assert tau["oracle_tau"] == taus[int(np.argmax(tau["oracle_acc"]["mean_by_tau"]))]
    assert len(tau["held_out_classes"]) == 2
    (cv,) = tau["cv"]
    assert cv["cv_tau"] in taus and len(cv["cv_mean_scores"]) == len(taus)
    # the CV's refit is the oracle's fit of that tau (same seed, settings and start)
    assert cv["refit_equals_oracle_fit"]
    assert tau["gap"] == pytest.approx(tau["oracle_acc_mean"] - cv["target_acc_of_cv_tau"])
    # The oracle's start, scored as the benchmark scores it: K-means on the 20 target
    # images, the pretrained network on the 15 test images of the source classes.
    (kmeans_acc,) = tau["pretrained"]["kmeans_acc"]
    (source_test,) = tau["pretrained"]["source_test_accuracy"]
    assert 0.2 <= kmeans_acc <= 1 and round(kmeans_acc * 20) == pytest.approx(kmeans_acc * 20)
    assert 0 <= source_test <= 1 and round(source_test * 15) == pytest.approx(source_test * 15)
    k = results["k"]
    assert list(k) == ["pretrained"]
    splits = script.DATASETS["cifar10"]["k_splits"]
    assert set(k["pretrained"]) == {*splits, "target_met"}
    criteria = {"accuracy_silhouette", "probe_cut"}
    assert set(k["pretrained"]["target_met"]) == criteria
    for name, novel in splits.items():
        split = k["pretrained"][name]
        assert split["true"] == len(novel)
        (run,) = split["runs"]
        for criterion in criteria:
            (estimate,) = split["by_criterion"][criterion]["estimates"]
            assert estimate == run["estimates"][criterion]
            assert split["by_criterion"][criterion]["abs_error"]["mean"] == abs(
                estimate - len(novel)
            )
    assert results["per_class"] == 4 and results["environment"]["device"]


def test_model_selection_script_runs_only_the_k_splits_named(fake_cifar10, tmp_path, capsys):
    script = _load_script("model_selection")
    out = tmp_path / "ms.json"
    common = [
        "cifar10", "--data", str(fake_cifar10), "--per-class", "4", "--seeds", "0",
        "--k-max", "8", "--cache-dir", str(tmp_path / "cache"), "--skip", "tau",
        "--set", "pretrain_epochs=1", "--set", "max_epochs=1",
        "--set", "backbone_params={'width': 4}",
    ]
    assert script.main([*common, "--k-split", "3 novel (7-9)", "--output", str(out)]) == 0
    results = json.loads(out.read_text())
    k = results["k"]["pretrained"]
    # Without the 5-novel split there is no verdict on the target, and none is printed.
    assert list(k) == ["3 novel (7-9)"] and results["k_splits"] == {"3 novel (7-9)": [7, 8, 9]}
    assert "target (exact for 5 novel" not in capsys.readouterr().out
    assert script.main([*common, "--k-split", script.FIVE_NOVEL, "--output", str(out)]) == 0
    k = json.loads(out.read_text())["k"]["pretrained"]
    assert set(k) == {script.FIVE_NOVEL, "target_met"}
    assert "target (exact for 5 novel, 5-9)" in capsys.readouterr().out
    for bad, message in [
        (["--k-split", "5 novel"], "unknown --k-split ['5 novel'] for cifar10"),
        (["--k-split", script.FIVE_NOVEL, "--skip", "k"], "--k-split chooses the K splits"),
    ]:
        with pytest.raises(SystemExit):
            script.main([*common, *bad, "--output", str(out)])
        assert message in capsys.readouterr().err


@pytest.mark.parametrize("name", ["model_selection", "gpu_session"])
def test_scripts_refuse_bad_settings_before_loading(name, tmp_path, capsys):
    # This --data does not exist: each error comes before the load would fail.
    script = _load_script(name)
    (tmp_path / "file.txt").write_text("")
    first = ["--out", str(tmp_path / "out")] if name == "gpu_session" else ["cifar10"]
    common = [*first, "--data", str(tmp_path / "missing")]
    cases = [
        (["--set", "backbone_params={'widht': 8}"], "do not build backbone="),
        (["--set", "tau=-1"], "'tau' parameter"),
        (["--set", f"checkpoint_dir='{tmp_path}/file.txt'"],
         f"checkpoint_dir='{tmp_path}/file.txt' cannot hold checkpoints"),
    ]
    if name == "model_selection":
        cases.append((["--output", str(tmp_path / "file.txt" / "ms.json")],
                      f"cannot write {tmp_path}/file.txt/ms.json: {tmp_path}/file.txt is not"))
        cases.append((["--seeds", "0", "1", "0"], "seeds holds 0 more than once"))
        cases.append((["--seeds", "-1"], "seeds must be in [0, 2**32 - 1]"))
    else:
        cases.append((["--seeds", "0"], "--seeds: must be at least 1"))
        # Finished runs of an earlier session, which the benchmark would refuse after
        # the load and the probe: refused first.
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "cifar10.json").write_text(json.dumps(
            {"benchmark": "cifar10", "protocol": {}, "params": {}, "runs": [{"seed": 0}]}
        ))
        cases.append(([], "cifar10.json holds 1 finished run of the cifar10 benchmark (seed 0)"))
    for bad, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            script.main([*common, *bad])
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err


def _git(folder, *args):
    """Run git in ``folder``; its output."""
    return subprocess.run(["git", "-C", str(folder), *args], check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_commit_marks_uncommitted_code(tmp_path, monkeypatch):
    # Figures name the commit they came from; code that differs from it says so.
    from sklearn_supreme._reporting import _git_commit

    monkeypatch.delenv("SKLEARN_SUPREME_GIT_COMMIT", raising=False)

    def git(*args):
        return _git(tmp_path, *args)

    for folder in ("pkg", "benchmarks", "docs"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "code.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "__init__.py").write_text("")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "start")
    head = git("rev-parse", "--short", "HEAD")
    package = str(tmp_path / "pkg")
    assert _git_commit(package) == head
    (tmp_path / "docs" / "code.py").write_text("x = 2\n")  # not code the figures run
    (tmp_path / "pkg" / "new.py").write_text("")  # untracked: not imported by anything
    assert _git_commit(package) == head
    (tmp_path / "benchmarks" / "code.py").write_text("x = 2\n")
    assert _git_commit(package) == head + "-dirty"
    git("checkout", "--", "benchmarks")
    (tmp_path / "pkg" / "code.py").write_text("x = 2\n")
    assert _git_commit(package) == head + "-dirty"
    # outside any checkout, the commit the sender of the tree names; in one, its own
    monkeypatch.setenv("SKLEARN_SUPREME_GIT_COMMIT", "abc1234")
    assert _git_commit(package) == head + "-dirty"
    shutil.rmtree(tmp_path / ".git")
    assert _git_commit(package) == "abc1234"


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_commit_ignores_a_checkout_that_does_not_track_the_package(tmp_path, monkeypatch):
    # The package installed (not editable) into a git-ignored .venv of the user's own
    # project lies in that project's checkout, whose commit says nothing of the package.
    from sklearn_supreme._reporting import _git_commit

    monkeypatch.delenv("SKLEARN_SUPREME_GIT_COMMIT", raising=False)

    def git(*args):
        return _git(tmp_path, *args)

    (tmp_path / ".gitignore").write_text(".venv/\n")
    (tmp_path / "analysis.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "start")
    package = tmp_path / ".venv" / "lib" / "site-packages" / "pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    assert _git_commit(str(package)) is None
    monkeypatch.setenv("SKLEARN_SUPREME_GIT_COMMIT", "abc1234")
    assert _git_commit(str(package)) == "abc1234"
    # Untracked but not ignored (a copy dropped into the project): not its code either.
    (tmp_path / ".gitignore").write_text("")
    assert _git_commit(str(package)) == "abc1234"
