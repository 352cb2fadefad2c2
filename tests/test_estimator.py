"""Behaviour of SupremeClusterer: fitted attributes, determinism, inputs, round trips."""

import copy
import pickle
import shutil
import threading
import tracemalloc
import warnings
from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np
import pytest
import sklearn
import torch
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning, NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.exceptions import DeviceWarning
from torch import nn

from sklearn_supreme import SupremeClusterer
from sklearn_supreme._estimator import _empty_clusters_ignored, _seeded, _warn_empty_clusters
from sklearn_supreme._inference import _even_batches
from sklearn_supreme._input import _as_network_input
from sklearn_supreme._objective import supreme_loss
from sklearn_supreme._training import LOSS_TERMS, _DeviceNet


@pytest.fixture(scope="module")
def fitted(digits_split):
    Xs, ys, Xt, _ = digits_split
    model = SupremeClusterer(n_clusters=5, pretrain_epochs=2, max_epochs=3, batch_size=64, random_state=0)
    return model.fit(Xt, source=(Xs, ys))


def test_fitted_attributes(fitted, digits_split):
    _, _, Xt, _ = digits_split
    n = len(Xt)
    assert fitted.labels_.shape == (n,) and fitted.labels_.dtype == np.int64
    assert fitted.labels_.min() >= 0 and fitted.labels_.max() < 5
    assert fitted.initial_labels_.shape == (n,)
    assert fitted.initial_proba_.shape == (n, 5)
    np.testing.assert_allclose(fitted.initial_proba_.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(fitted.initial_proba_.argmax(axis=1), fitted.initial_labels_)
    assert fitted.n_features_in_ == 64 and fitted.input_shape_ == (64,)
    assert fitted.device_ == "cpu"
    assert fitted.n_iter_ == 3
    assert list(fitted.source_classes_) == [0, 1, 2, 3, 4]
    assert set(fitted.history_) == {"loss", *LOSS_TERMS, "dur"}
    assert all(len(values) == 3 for values in fitted.history_.values())
    assert len(fitted.pretrain_history_["loss"]) == 2
    # the training data is not kept inside the fitted net
    assert fitted.net_.source_X is None


@pytest.mark.parametrize("batch_size", [250, 50], ids=["one-batch", "five-batches"])
def test_history_loss_is_weighted_sum_of_terms(digits_split, batch_size):
    Xs, ys, Xt, _ = digits_split
    weights = dict(self_weight=0.5, pair_weight=2.0, balance_weight=3.0, factor_weight=0.2, source_weight=0.7)
    model = SupremeClusterer(
        n_clusters=5, pretrain_epochs=1, max_epochs=2, batch_size=batch_size, random_state=0,
        **weights,
    ).fit(Xt, source=(Xs, ys))
    h = model.history_
    # One batch per epoch: the epoch means are the step values. Five batches of 50
    # (250 samples): the epoch's loss is the mean of the steps' losses, so by linearity
    # the weighted sum of each term's mean over the steps.
    assert len(Xt) == 250
    for epoch in range(2):
        expected = sum(weights[f"{t}_weight"] * h[t][epoch] for t in LOSS_TERMS)
        assert h["loss"][epoch] == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("source_batch_size", [None, 7])
def test_source_batch_size_sets_the_source_samples_per_step(
    digits_split, monkeypatch, source_batch_size
):
    import sklearn_supreme._training as training

    sizes, drawn = [], []

    def spy(p, p_perturbed, p_init, a, *, source_logits=None, y_source=None, **kwargs):
        sizes.append((len(p), len(source_logits), len(y_source), len(a)))
        drawn.append(tuple(y_source.tolist()))
        return supreme_loss(p, p_perturbed, p_init, a, source_logits=source_logits,
                            y_source=y_source, **kwargs)

    monkeypatch.setattr(training, "supreme_loss", spy)
    Xs, ys, Xt, _ = digits_split
    SupremeClusterer(
        n_clusters=5, pretrain_epochs=1, max_epochs=2, batch_size=32,
        source_batch_size=source_batch_size, random_state=0,
    ).fit(Xt, source=(Xs, ys))
    n_source = source_batch_size or 32
    # the factor term (Eq. 7) covers the codes of the target, its perturbation and the source
    assert sizes and set(sizes) == {(32, n_source, n_source, 32 + 32 + n_source)}
    # each step draws its source batch anew from the whole source, not the same rows
    assert len(drawn) == 2 * (len(Xt) // 32) and len(set(drawn)) > len(drawn) // 2


def test_source_weight_zero_skips_the_source_pass(digits_split, monkeypatch):
    import sklearn_supreme._training as training

    seen = []

    def spy(p, p_perturbed, p_init, a, *, source_logits=None, y_source=None, **kwargs):
        seen.append((source_logits, y_source, len(a)))
        return supreme_loss(p, p_perturbed, p_init, a, source_logits=source_logits,
                            y_source=y_source, **kwargs)

    monkeypatch.setattr(training, "supreme_loss", spy)
    Xs, ys, Xt, _ = digits_split
    model = SupremeClusterer(
        n_clusters=5, pretrain_epochs=1, max_epochs=2, batch_size=32, source_weight=0.0,
        random_state=0,
    ).fit(Xt, source=(Xs, ys))
    # the source still pretrains, but no source batch enters the clustering steps
    assert len(model.pretrain_history_["loss"]) == 1
    assert seen and all(s is None and y is None and n == 2 * 32 for s, y, n in seen)
    assert model.history_["source"] == [0.0, 0.0]


def test_batch_losses_stay_on_the_device_until_the_epoch_ends(digits_split, fast_params):
    # skorch's own loop calls loss.item() per batch: on a GPU a host sync per step,
    # which stalls the launch queue. Here a batch's loss is a tensor mid-epoch and
    # every batch's loss is a float once the epoch ends.

    class Observe(Callback):
        seen = []  # a class attribute: the estimator may copy its callbacks

        def on_batch_end(self, net, **kwargs):
            self.seen.append(("batch", type(net.history[-1, "batches", -1, "train_loss"])))

        def on_epoch_end(self, net, **kwargs):
            rows = net.history[-1, "batches"]
            losses = [row["train_loss"] for row in rows]
            sizes = [row["train_batch_size"] for row in rows]
            self.seen.append(("epoch", {type(v) for v in losses}))
            assert net.history[-1, "train_loss"] == pytest.approx(np.average(losses, weights=sizes))

    Xs, ys, Xt, _ = digits_split
    SupremeClusterer(**{**fast_params, "batch_size": 128}, callbacks=[Observe()]).fit(
        Xt, source=(Xs, ys)
    )
    batch_types = {t for kind, t in Observe.seen if kind == "batch"}
    epoch_types = [t for kind, t in Observe.seen if kind == "epoch"]
    assert batch_types == {torch.Tensor}
    assert len(epoch_types) == 2 + 3 and all(t == {float} for t in epoch_types)


def test_predict_matches_labels_and_proba(fitted, digits_split):
    _, _, Xt, _ = digits_split
    np.testing.assert_array_equal(fitted.predict(Xt), fitted.labels_)
    proba = fitted.predict_proba(Xt)
    assert proba.shape == (len(Xt), 5)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(proba.argmax(axis=1), fitted.labels_)


def test_transform_is_factor_space(fitted, digits_split):
    _, _, Xt, _ = digits_split
    codes = fitted.transform(Xt)
    assert codes.shape == (len(Xt), fitted.n_factors) and codes.dtype == np.float32
    assert codes.min() >= 0.0 and codes.max() <= 1.0
    names = fitted.get_feature_names_out()
    assert len(names) == fitted.n_factors and names[0] == "supremeclusterer0"


def test_predict_is_batched_and_order_independent(fitted, digits_split):
    _, _, Xt, _ = digits_split
    big = np.concatenate([Xt] * 6)  # more rows than one inference batch (1024)
    np.testing.assert_array_equal(fitted.predict(big), np.tile(fitted.labels_, 6))
    order = np.random.RandomState(0).permutation(len(Xt))
    np.testing.assert_array_equal(fitted.predict(Xt[order]), fitted.labels_[order])
    # one row past a whole inference batch (1024): the last batch holds a single row
    rows = np.arange(1025) % len(Xt)
    np.testing.assert_array_equal(fitted.predict(Xt[rows]), fitted.labels_[rows])
    np.testing.assert_allclose(fitted.transform(Xt[rows])[-1], fitted.transform(Xt[rows[-1:]])[0],
                               rtol=1e-6)


def test_empty_clusters_are_named_by_hand():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _warn_empty_clusters(np.array([2, 0, 1, 1]), 3)  # every cluster used: silent
    with pytest.warns(ConvergenceWarning, match=r"^2 of the n_clusters=4 clusters .*\[1, 3\]"):
        _warn_empty_clusters(np.array([0, 2, 2, 0]), 4)
    with pytest.warns(ConvergenceWarning, match=r"^1 of the n_clusters=3 clusters .*\[2\]\)"):
        _warn_empty_clusters(np.array([1, 0, 0, 1]), 3)  # one empty cluster is enough


def test_fit_that_leaves_clusters_empty_warns_and_is_fitted():
    # Two distinct points, 4 copies each: whatever the training, equal inputs get
    # equal labels, so at least 6 of the 8 clusters stay empty.
    X = np.repeat([[0.0, 0.0], [3.0, 3.0]], 4, axis=0)
    model = SupremeClusterer(n_clusters=8, max_epochs=2, random_state=0)
    with warnings.catch_warnings():
        # Warnings as errors fail the fit (below); the initial K-means's own warning
        # about the duplicate points is not the one under test.
        warnings.simplefilter("error", ConvergenceWarning)
        warnings.filterwarnings("ignore", "Number of distinct clusters", ConvergenceWarning)
        with pytest.warns(ConvergenceWarning, match="empty in labels_") as record:
            model.fit(X)
        n_used = len(np.unique(model.labels_))
        assert n_used <= 2
        [ours] = [w for w in record if "empty in labels_" in str(w.message)]
        assert str(ours.message).startswith(f"{8 - n_used} of the n_clusters=8 clusters")
        assert ours.filename == __file__  # points at the caller of fit
        # also when fit is reached through scikit-learn's code
        for call in (
            lambda: clone(model).fit_predict(X),
            lambda: make_pipeline(FunctionTransformer(), clone(model)).fit(X),
        ):
            with pytest.warns(ConvergenceWarning, match="empty in labels_") as record:
                call()
            assert {w.filename for w in record if "empty in" in str(w.message)} == {__file__}

        # Raised as an error, the warning fails the fit, which keeps the previous model.
        previous = model.labels_.copy()
        with pytest.raises(ConvergenceWarning, match="empty in labels_"):
            model.set_params(max_epochs=1).fit(X[::-1])
    np.testing.assert_array_equal(model.labels_, previous)
    assert model.n_iter_ == 2


def test_same_seed_same_labels(digits_split, fast_params):
    Xs, ys, Xt, _ = digits_split
    # whatever state the global torch generator is in: random_state seeds the fit
    torch.manual_seed(1)
    a = SupremeClusterer(**fast_params).fit(Xt, source=(Xs, ys))
    torch.manual_seed(2)
    b = SupremeClusterer(**fast_params).fit(Xt, source=(Xs, ys))
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_allclose(a.history_["loss"], b.history_["loss"])


def test_fits_in_threads_reproduce_the_sequential_fits(digits_split, fast_params):
    # joblib's threading backend runs fits in threads of one process, which share
    # torch's global generator; seeded fits must still give their own results.
    Xs, ys, Xt, _ = digits_split
    seeds = [0, 1, 2, 3]

    def fit(seed):
        params = {**fast_params, "random_state": seed}
        return SupremeClusterer(**params).fit(Xt, source=(Xs, ys)).labels_

    sequential = [fit(seed) for seed in seeds]
    with ThreadPoolExecutor(max_workers=2) as pool:
        threaded = list(pool.map(fit, seeds))
    for a, b in zip(sequential, threaded):
        np.testing.assert_array_equal(a, b)


def test_empty_clusters_are_silenced_in_one_thread_without_the_warning_filters():
    # Silenced through the warning filters, under a lock of ours, a search on joblib's
    # threading backend left the "ignore" in the caller's filters: scikit-learn's
    # Parallel saves and restores the (global) filters in each worker thread.
    from joblib import parallel_config
    from sklearn.utils.parallel import Parallel, delayed

    def silenced():
        with _empty_clusters_ignored():
            _warn_empty_clusters(np.zeros(4, dtype=int), 2)  # a warning, were it not

    def filters():  # scikit-learn's Parallel puts back module patterns compiled
        return [tuple(getattr(part, "pattern", part) for part in f) for f in warnings.filters]

    # The workers touch no filters here: the test's own catch_warnings is the main
    # thread's, around the whole search.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        before = filters()
        with parallel_config(backend="threading", n_jobs=2):
            Parallel()(delayed(silenced)() for _ in range(200))
        assert filters() == before
    assert not [w for w in caught if "clusters are empty" in str(w.message)]
    # Another thread, not silenced, still warns while this one is.
    with _empty_clusters_ignored():
        with ThreadPoolExecutor(max_workers=1) as pool:
            with pytest.warns(ConvergenceWarning, match="clusters are empty"):
                pool.submit(_warn_empty_clusters, np.zeros(4, dtype=int), 2).result()


@pytest.mark.parametrize(
    "context", [lambda: _seeded(0, torch.device("cpu"))], ids=["torch generators"]
)
def test_global_state_is_set_by_one_thread_at_a_time(context):
    inside, release, entered = threading.Event(), threading.Event(), threading.Event()

    def first():
        with context():
            inside.set()
            release.wait(10)

    def second():
        with context():
            entered.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert inside.wait(10)
    threads[1].start()
    assert not entered.wait(0.3)  # the first still trains: the second waits
    release.set()
    assert entered.wait(10)
    for thread in threads:
        thread.join(10)
    # The same thread may enter again inside (a fit within a fit's callback).
    with context(), context():
        pass


def test_fit_leaves_global_torch_rng_alone(digits_split, fast_params):
    Xs, ys, Xt, _ = digits_split
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    SupremeClusterer(**fast_params).fit(Xt, source=(Xs, ys))
    assert torch.equal(torch.rand(3), expected)


def test_fit_is_unchanged_by_the_global_pandas_output(fitted, digits_split, fast_params):
    # Notebooks often set sklearn.set_config(transform_output="pandas"); the initial
    # K-means's PCA (64 features > 5 clusters) must still hand arrays on.
    pytest.importorskip("pandas")
    Xs, ys, Xt, _ = digits_split
    with sklearn.config_context(transform_output="pandas"):
        model = SupremeClusterer(**fast_params).fit(Xt, source=(Xs, ys))
    np.testing.assert_array_equal(model.labels_, fitted.labels_)


def test_fit_under_a_float64_default_dtype(fitted, digits_split, fast_params):
    # torch.set_default_dtype(torch.float64) is common in scientific code: the network
    # is still built in float32, the input's dtype, and the caller's default stays.
    Xs, ys, Xt, _ = digits_split
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        model = SupremeClusterer(**fast_params).fit(Xt, source=(Xs, ys))
        assert torch.get_default_dtype() == torch.float64
        np.testing.assert_array_equal(model.predict(Xt), fitted.labels_)
    finally:
        torch.set_default_dtype(before)
    np.testing.assert_array_equal(model.labels_, fitted.labels_)


def test_fit_without_source(digits_split, fast_params):
    _, _, Xt, _ = digits_split
    model = SupremeClusterer(**fast_params).fit(Xt)
    assert model.source_classes_ is None
    assert model.pretrain_history_["loss"] == []
    assert all(v == 0.0 for v in model.history_["source"])
    assert model.labels_.shape == (len(Xt),)


@pytest.mark.parametrize(
    "labels",
    [
        lambda y: np.array(["zero", "one", "two", "three", "four"])[y],
        lambda y: y * 10 + 3,
    ],
    ids=["strings", "non-contiguous"],
)
def test_source_labels_any_hashable(digits_split, fast_params, labels):
    Xs, ys, Xt, _ = digits_split
    model = SupremeClusterer(**fast_params).fit(Xt, source=(Xs, labels(ys)))
    np.testing.assert_array_equal(model.source_classes_, np.unique(labels(ys)))
    assert model.net_.module_.source_head.out_features == 5


def test_fit_predict_passes_source(digits_split, fast_params):
    Xs, ys, Xt, _ = digits_split
    labels = SupremeClusterer(**fast_params).fit_predict(Xt, source=(Xs, ys))
    expected = SupremeClusterer(**fast_params).fit(Xt, source=(Xs, ys)).labels_
    np.testing.assert_array_equal(labels, expected)


def test_fit_transform_passes_source(digits_split, fast_params):
    Xs, ys, Xt, _ = digits_split
    codes = SupremeClusterer(**fast_params).fit_transform(Xt, source=(Xs, ys))
    fitted = SupremeClusterer(**fast_params).fit(Xt, source=(Xs, ys))
    np.testing.assert_allclose(codes, fitted.transform(Xt), rtol=1e-6)
    # without the source it would be another model: pretraining is what it transfers
    unsourced = SupremeClusterer(**fast_params).fit_transform(Xt)
    assert not np.allclose(codes, unsourced)


def test_verbose_prints_each_epoch(digits_split, fast_params, capsys):
    Xs, ys, Xt, _ = digits_split
    SupremeClusterer(**fast_params, verbose=1).fit(Xt, source=(Xs, ys))
    printed = capsys.readouterr().out
    # skorch's epoch table, once per phase: one row per pretraining and clustering epoch
    rows = [line for line in printed.splitlines() if line.strip()[:1].isdigit()]
    assert len(rows) == fast_params["pretrain_epochs"] + fast_params["max_epochs"]
    # each table under the title of its phase
    pretraining, clustering = printed.split("Clustering (SUPREME):\n")
    assert pretraining.startswith("Source pretraining:\n")
    assert "source_loss" in clustering and "source_loss" not in pretraining
    SupremeClusterer(**fast_params, verbose=0).fit(Xt, source=(Xs, ys))
    assert capsys.readouterr().out == ""


def test_cpu_shortcuts_give_the_same_fit(digits_split, fast_params, monkeypatch):
    # On the CPU both phases run Adam's foreach path and, under verbose=0, build no
    # epoch table: they only save time, so the fit is bit for bit the one of torch's
    # for-loop Adam with skorch's PrintLog.
    Xs, ys, Xt, _ = digits_split
    params = {**fast_params, "max_epochs": 6}
    fast = SupremeClusterer(**params).fit(Xt, source=(Xs, ys))
    assert fast.net_.optimizer_.defaults["foreach"] is True
    assert "print_log" not in dict(fast.net_.callbacks_)

    class ForLoopAdam(torch.optim.Adam):
        def __init__(self, params, **kwargs):
            super().__init__(params, **{**kwargs, "foreach": False})

    monkeypatch.setattr(torch.optim, "Adam", ForLoopAdam)
    monkeypatch.setattr(_DeviceNet, "get_default_callbacks", NeuralNet.get_default_callbacks)
    slow = SupremeClusterer(**params).fit(Xt, source=(Xs, ys))
    assert slow.net_.optimizer_.defaults["foreach"] is False
    assert "print_log" in dict(slow.net_.callbacks_)
    np.testing.assert_array_equal(fast.labels_, slow.labels_)
    np.testing.assert_array_equal(fast.predict_proba(Xt), slow.predict_proba(Xt))
    np.testing.assert_array_equal(fast.initial_proba_, slow.initial_proba_)
    for name in ("loss", *LOSS_TERMS):
        assert fast.history_[name] == slow.history_[name]
    assert fast.pretrain_history_["loss"] == slow.pretrain_history_["loss"]


def test_predict_casts_float64_rows_batch_by_batch(digits_split, fast_params):
    Xs, ys, Xt, _ = digits_split
    model = SupremeClusterer(**fast_params).fit(Xt, source=(Xs, ys))
    X = np.random.default_rng(0).standard_normal((20_000, Xt.shape[1]))  # float64
    X32 = X.astype(np.float32)
    tracemalloc.start()
    try:
        codes = model.transform(X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(codes, model.transform(X32))
    # The output and a batch, not a float32 copy of the whole input (half its size).
    assert peak < codes.nbytes + X.nbytes / 8
    # Other layouts, cast batch by batch too: torch cannot wrap negative strides.
    np.testing.assert_array_equal(
        model.predict(X32[:, ::-1]), model.predict(np.ascontiguousarray(X32[:, ::-1]))
    )
    np.testing.assert_array_equal(model.predict(np.asfortranarray(X)), model.predict(X32))
    with pytest.raises(ValueError, match="X has values beyond the float32 range"):
        model.predict(X * 1e300)


def _images(n, rng, uint8=True):
    if uint8:
        return rng.randint(0, 256, size=(n, 8, 8, 3)).astype(np.uint8)
    return rng.randn(n, 3, 8, 8).astype(np.float32)


@pytest.mark.parametrize("uint8", [True, False], ids=["uint8-NHWC", "float-NCHW"])
def test_images_with_cnn(uint8):
    rng = np.random.RandomState(0)
    Xt, Xs = _images(40, rng, uint8), _images(30, rng, uint8)
    ys = np.repeat([0, 1, 2], 10)
    model = SupremeClusterer(
        n_clusters=3, backbone="cnn", backbone_params={"width": 4}, pretrain_epochs=1, max_epochs=1,
        batch_size=16, random_state=0,
    ).fit(Xt, source=(Xs, ys))
    assert model.input_shape_ == Xt.shape[1:]
    assert model.predict(Xt).shape == (40,)
    assert model.transform(Xt[:5]).shape == (5, model.n_factors)
    # same shape, other layout: float (N, C, H, W) where uint8 (N, H, W, C) was fitted
    with pytest.raises(ValueError, match="fitted on samples of shape"):
        model.predict(Xt.astype(np.float32 if uint8 else np.uint8))
    # the other layout of the same images: said before scikit-learn counts "features"
    other = Xt.transpose(0, 3, 1, 2).astype(np.float32) if uint8 else (
        (Xt.transpose(0, 2, 3, 1) * 20 + 128).clip(0, 255).astype(np.uint8))
    with pytest.raises(ValueError, match=r"X has samples of shape \(\d+, \d+, \d+\) \((float|uint8) "
                                         r"images.*fitted on samples of shape"):
        model.predict(other)


IMAGE_PARAMS = dict(
    n_clusters=3, backbone="cnn", backbone_params={"width": 4}, pretrain_epochs=1, max_epochs=1,
    batch_size=16, random_state=0,
)


def test_integer_images_are_read_as_uint8_images():
    # np.array of pixel lists is int64: the same images as uint8, not float (N, C, H, W)
    rng = np.random.RandomState(0)
    Xt, Xs = _images(40, rng), _images(30, rng)
    ys = np.repeat([0, 1, 2], 10)
    as_uint8 = SupremeClusterer(**IMAGE_PARAMS).fit(Xt, source=(Xs, ys))
    as_int = SupremeClusterer(**IMAGE_PARAMS).fit(Xt.astype(np.int64), source=(Xs.astype(np.int16), ys))
    assert as_int.net_.module_.adapter.kind == "uint8_nhwc"
    np.testing.assert_array_equal(as_int.labels_, as_uint8.labels_)
    np.testing.assert_array_equal(as_int.predict(Xt.astype(np.int32)), as_uint8.predict(Xt))
    # nested lists of pixel values, as well
    as_lists = SupremeClusterer(**IMAGE_PARAMS).fit(Xt.tolist(), source=(Xs.tolist(), ys))
    assert as_lists.net_.module_.adapter.kind == "uint8_nhwc"
    np.testing.assert_array_equal(as_lists.labels_, as_uint8.labels_)
    np.testing.assert_array_equal(as_lists.predict(Xt.tolist()), as_uint8.predict(Xt))
    too_bright = Xt.astype(np.int64)
    too_bright[0, 0, 0, 0] = 256
    with pytest.raises(ValueError, match=r"X holds int64 images with values in \[0, 256\].*0-255"):
        SupremeClusterer(**IMAGE_PARAMS).fit(too_bright, source=(Xs, ys))
    with pytest.raises(ValueError, match=r"X_source holds int16 images with values in \[-1, 255\]"):
        SupremeClusterer(**IMAGE_PARAMS).fit(Xt, source=(Xs.astype(np.int16) - (Xs == 0), ys))


@pytest.mark.parametrize("uint8", [True, False], ids=["uint8-NHWC", "float-NCHW"])
def test_torch_tensors_are_array_likes(uint8):
    # A tensor's dtype is torch's, not numpy's: images read from it as from its array.
    rng = np.random.RandomState(0)
    X, Xs, ys = _images(40, rng, uint8), _images(30, rng, uint8), np.repeat([0, 1, 2], 10)
    as_arrays = SupremeClusterer(**IMAGE_PARAMS).fit(X, source=(Xs, ys))
    as_tensors = SupremeClusterer(**IMAGE_PARAMS).fit(
        torch.from_numpy(X), source=(torch.from_numpy(Xs), ys)
    )
    assert as_tensors.net_.module_.adapter.kind == ("uint8_nhwc" if uint8 else "float_nchw")
    np.testing.assert_array_equal(as_tensors.labels_, as_arrays.labels_)
    tensor = torch.from_numpy(X[:7])
    np.testing.assert_array_equal(as_arrays.predict(tensor), as_arrays.predict(X[:7]))
    np.testing.assert_allclose(as_arrays.transform(tensor), as_arrays.transform(X[:7]))


def test_tensors_that_require_grad_are_read_detached(digits_split, fast_params):
    # A network's output requires grad, and numpy refuses to read such a tensor.
    Xs, ys, Xt, _ = digits_split
    X_grad = torch.tensor(Xt, dtype=torch.float32, requires_grad=True)
    Xs_grad = torch.tensor(Xs, dtype=torch.float32, requires_grad=True)
    model = SupremeClusterer(**fast_params).fit(X_grad, source=(Xs_grad, ys))
    expected = SupremeClusterer(**fast_params).fit(Xt.astype(np.float32), source=(Xs, ys))
    np.testing.assert_array_equal(model.labels_, expected.labels_)
    np.testing.assert_array_equal(model.predict(X_grad[:5]), expected.predict(Xt[:5]))
    assert X_grad.grad is None and X_grad.requires_grad  # the caller's tensor is untouched


def test_images_in_the_other_layout_get_a_warning():
    rng = np.random.RandomState(0)
    channels_last = rng.rand(40, 8, 8, 3).astype(np.float32)
    model = SupremeClusterer(**{**IMAGE_PARAMS, "pretrain_epochs": 0})
    with pytest.warns(UserWarning, match=r"shape \(40, 8, 8, 3\) looks like channels-last.*"
                                        r"8 channels of 8x3 pixels.*transpose\(0, 3, 1, 2\)"):
        with pytest.raises(ValueError, match="backbone failed"):  # 8x3 images are too small
            model.fit(channels_last)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # channels-first input, as asked, warns nothing
        # but what a short fit of random pixels may: clusters left empty
        warnings.filterwarnings("ignore", ".* clusters are empty", ConvergenceWarning)
        model.fit(channels_last.transpose(0, 3, 1, 2))
    # grayscale too (MNIST as (N, 28, 28, 1) floats), the commonest form of the mistake
    with pytest.warns(UserWarning, match=r"looks like channels-last.*28 channels of 28x1"):
        _as_network_input(rng.rand(40, 28, 28, 1).astype(np.float32), "X")
    # the mirror mistake: uint8 images handed over channels-first, as torchvision has them
    channels_first = (channels_last * 255).astype(np.uint8).transpose(0, 3, 1, 2)
    with pytest.warns(UserWarning, match=r"shape \(40, 3, 8, 8\) looks like channels-first.*"
                                        r"8 channels of 3x8 pixels.*transpose\(0, 2, 3, 1\)"
                      ) as caught:
        with pytest.raises(ValueError, match="backbone failed"):
            model.fit(channels_first)
    assert caught[0].filename == __file__  # the warning points at the caller's line
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", ".* clusters are empty", ConvergenceWarning)
        model.fit(channels_first.transpose(0, 2, 3, 1))


def test_dataframe_source_must_have_the_target_columns(digits_split, fast_params):
    pd = pytest.importorskip("pandas")
    Xs, ys, Xt, _ = digits_split
    columns = [f"pixel{i}" for i in range(Xt.shape[1])]
    Xt, Xs = pd.DataFrame(Xt, columns=columns), pd.DataFrame(Xs, columns=columns)
    model = SupremeClusterer(**fast_params)
    # reordered columns would pair each source feature with another target feature
    with pytest.raises(ValueError, match="same names in another order; select X_source\\[X.columns\\]"):
        model.fit(Xt, source=(Xs[columns[::-1]], ys))
    # each side of another difference is named: a column more is not one of X's
    # columns "missing" (an empty list of them), nor is a column twice another order
    renamed = Xs.rename(columns={"pixel0": "p0", "pixel5": "p5"})
    with pytest.raises(ValueError, match=r"X's \['pixel0', 'pixel5'\] are missing from "
                                         r"X_source; X_source has \['p0', 'p5'\], which X has not"):
        model.fit(Xt, source=(renamed, ys))
    with pytest.raises(ValueError, match=r"to line up; X_source has \['extra'\], which X has not\.$"):
        model.fit(Xt, source=(Xs.assign(extra=1.0), ys))
    with pytest.raises(ValueError, match=r"to line up; X_source repeats \['pixel3'\]\.$"):
        model.fit(Xt, source=(pd.concat([Xs, Xs[["pixel3"]]], axis=1), ys))
    assert not hasattr(model, "n_features_in_")  # nothing left half-fitted
    # the same columns, or a side without names, are accepted
    named = SupremeClusterer(**fast_params).fit(Xt, source=(Xs, ys))
    plain = SupremeClusterer(**fast_params).fit(Xt.to_numpy(), source=(Xs.to_numpy(), ys))
    np.testing.assert_array_equal(named.labels_, plain.labels_)
    SupremeClusterer(**fast_params).fit(Xt, source=(Xs.to_numpy(), ys))


def test_dataframe_source_columns_are_checked_whatever_their_labels(digits_split, fast_params):
    # pd.DataFrame(array) labels its columns 0, 1...: not feature names to scikit-learn,
    # but a reordered source would pair its features with the wrong target ones all the same.
    pd = pytest.importorskip("pandas")
    Xs, ys, Xt, _ = digits_split
    Xt, Xs = pd.DataFrame(Xt), pd.DataFrame(Xs)
    model = SupremeClusterer(**fast_params)
    with pytest.raises(ValueError, match="same names in another order"):
        model.fit(Xt, source=(Xs[Xs.columns[::-1]], ys))
    with pytest.raises(ValueError, match="same names in another order"):
        model.fit(Xt, X_source=Xs[Xs.columns[::-1]], y_source=ys)
    assert not hasattr(model, "n_features_in_")


def test_source_given_as_y_is_refused(digits_split, fast_params):
    # fit(X, y=None, source=None): a source passed second would land in the ignored y,
    # and the fit would run without any transfer.
    Xs, ys, Xt, _ = digits_split
    model = SupremeClusterer(**fast_params)
    ragged = [list(row) for row in Xs]
    ragged[0] = ragged[0][:10]  # rows of unequal length: still samples, not labels
    for pair in [(Xs, ys), [Xs.tolist(), list(ys)], (ragged, ys)]:
        # fit_predict too: ClusterMixin's hands fit no y, and so dropped the pair unseen.
        for method in (model.fit, model.fit_predict, model.fit_transform):
            with pytest.raises(TypeError, match=r"pair \(X_source, y_source\) as its second "
                                                r"argument, y.*source=\(X_source, y_source\)"):
                method(Xt, pair)
    assert not hasattr(model, "labels_")
    # a y of labels is ignored, as scikit-learn's clusterers ignore it (two samples too)
    labelled = SupremeClusterer(**fast_params).fit(Xt, np.zeros(len(Xt)), source=(Xs, ys))
    np.testing.assert_array_equal(
        labelled.labels_, SupremeClusterer(**fast_params).fit(Xt, source=(Xs, ys)).labels_
    )
    SupremeClusterer(**{**fast_params, "n_clusters": 2}).fit(Xt[:2], (0, 1))


def test_samples_of_another_dimension_are_named_by_shape(fitted, digits_split):
    # An image model given feature rows (or a model given 3-D arrays) names the sample
    # shapes, not scikit-learn's count of "features" (an image model's n_features_in_ is
    # the images' height): "expecting 8 features" would ask for 8 columns.
    _, _, Xt, _ = digits_split
    rng = np.random.RandomState(0)
    images = SupremeClusterer(**IMAGE_PARAMS).fit(
        _images(40, rng), source=(_images(30, rng), np.repeat([0, 1, 2], 10))
    )
    assert images.n_features_in_ == 8
    flat = _images(5, rng).reshape(5, -1)
    with pytest.raises(ValueError, match=r"X has samples of shape \(192,\) \(feature vectors\), "
                                         r"but SupremeClusterer was fitted on samples of shape "
                                         r"\(8, 8, 3\) \(uint8 images"):
        images.predict(flat)
    with pytest.raises(ValueError, match=r"X has samples of shape \(8, 8\), but SupremeClusterer "
                                         r"was fitted on samples of shape \(8, 8, 3\)"):
        images.transform(_images(5, rng)[..., 0])
    # lists are named alike, not by scikit-learn's count of their second axis
    with pytest.raises(ValueError, match=r"X has samples of shape \(192,\) \(feature vectors\)"):
        images.predict(flat.tolist())
    with pytest.raises(ValueError, match=r"X has samples of shape \(8, 8\), but SupremeClusterer "
                                         r"was fitted on samples of shape \(64,\)"):
        fitted.predict(Xt[:5].reshape(5, 8, 8).tolist())
    with pytest.raises(ValueError, match=r"X has samples of shape \(8, 8\), but SupremeClusterer "
                                         r"was fitted on samples of shape \(64,\) "
                                         r"\(feature vectors\)"):
        fitted.predict_proba(Xt[:5].reshape(5, 8, 8))
    # feature rows of another width, and 1-D input, keep scikit-learn's own errors
    with pytest.raises(ValueError, match="X has 10 features, but SupremeClusterer is expecting"):
        fitted.predict(Xt[:5, :10])
    with pytest.raises(ValueError, match="Reshape your data"):
        fitted.predict(Xt[0])


@pytest.mark.parametrize("kind", ["float-nan", "object-none", "pandas-NA"])
def test_missing_source_labels_are_an_error(digits_split, fast_params, kind):
    Xs, ys, Xt, _ = digits_split
    unlabelled = np.arange(len(ys)) < 2
    if kind == "float-nan":
        y = np.where(unlabelled, np.nan, ys)
    elif kind == "object-none":
        y = np.array([None if u else v for u, v in zip(unlabelled, ys)], dtype=object)
    else:
        pd = pytest.importorskip("pandas")
        y = pd.Series(ys, dtype="Int64").mask(unlabelled)
    # without the check they became a class of their own, pretrained on
    with pytest.raises(ValueError, match="y_source has 2 missing labels"):
        SupremeClusterer(**fast_params).fit(Xt, source=(Xs, y))


def test_column_vector_source_labels_warn_as_in_scikit_learn(digits_split, fast_params):
    # As scikit-learn's classifiers do with y: a DataConversionWarning, pointing at the
    # caller's line, and the fit the 1-D labels give.
    pd = pytest.importorskip("pandas")
    Xs, ys, Xt, _ = digits_split
    flat = SupremeClusterer(**fast_params).fit(Xt, source=(Xs, ys))
    for column in (ys[:, None], pd.DataFrame({"digit": ys})):
        with pytest.warns(DataConversionWarning, match="A column-vector y_source") as record:
            model = SupremeClusterer(**fast_params).fit(Xt, source=(Xs, column))
        assert record[0].filename == __file__
        np.testing.assert_array_equal(model.labels_, flat.labels_)
    for labels in (np.c_[ys, ys], ys[:, None, None], ys[0]):
        with pytest.raises(ValueError, match=r"y_source must be 1-D, got an array of shape \("):
            SupremeClusterer(**fast_params).fit(Xt, source=(Xs, labels))


def test_source_labels_of_mixed_types_are_named(digits_split, fast_params):
    Xs, ys, Xt, _ = digits_split
    mixed = np.array([int(v) if v < 3 else f"c{v}" for v in ys], dtype=object)
    with pytest.raises(TypeError, match=r"mixes labels of types \['int', 'str'\]"):
        SupremeClusterer(**fast_params).fit(Xt, source=(Xs, mixed))
    # As a list, NumPy alone would merge 3 and "3" into one class.
    as_list = [int(v) if v % 2 else str(v) for v in ys]
    with pytest.raises(TypeError, match=r"y_source mixes labels of types \['int', 'str'\]"):
        SupremeClusterer(**fast_params).fit(Xt, source=(Xs, as_list))


class _TinyBackbone(nn.Module):
    def __init__(self, n_in=64, width=16):
        super().__init__()
        self.layer = nn.Sequential(nn.Linear(n_in, width), nn.ReLU())

    def forward(self, x):
        return self.layer(x)


def test_backbone_class_and_instance(digits_split, fast_params):
    Xs, ys, Xt, _ = digits_split
    model = SupremeClusterer(backbone=_TinyBackbone, backbone_params={"width": 8}, **fast_params)
    model.fit(Xt, source=(Xs, ys))
    assert model.net_.module_.factor.in_features == 8

    instance = _TinyBackbone()
    before = {k: v.clone() for k, v in instance.state_dict().items()}
    model = SupremeClusterer(backbone=instance, **fast_params).fit(Xt, source=(Xs, ys))
    # the user's module is copied, never trained in place
    assert all(torch.equal(before[k], v) for k, v in instance.state_dict().items())
    assert model.net_.module_.backbone is not instance


def _spy_initial_assignment(monkeypatch):
    import sklearn_supreme._estimator as estimator_module

    calls = []
    original = estimator_module.initial_assignment

    def spy(features, n_clusters, **kwargs):
        calls.append({"features": features, **kwargs})
        return original(features, n_clusters, **kwargs)

    monkeypatch.setattr(estimator_module, "initial_assignment", spy)
    return calls


def test_pretrained_backbone_skips_pretraining(digits_split, fast_params, monkeypatch):
    calls = _spy_initial_assignment(monkeypatch)
    Xs, ys, Xt, _ = digits_split
    params = {**fast_params, "pretrain_epochs": 0}
    backbone = _TinyBackbone()
    model = SupremeClusterer(backbone=backbone, **params).fit(Xt, source=(Xs, ys))
    assert model.pretrain_history_["loss"] == []
    assert len(model.history_["loss"]) == fast_params["max_epochs"]
    # the given module is taken as trained: its 16 features, not the 64 pixels, are
    # clustered, and they are what the untrained module computes of the standardised input
    (call,) = calls
    assert call["features"].shape == (len(Xt), 16)
    with torch.no_grad():
        adapter = model.net_.module_.adapter
        expected = _TinyBackbone()
        expected.load_state_dict(backbone.state_dict())
        np.testing.assert_allclose(
            call["features"], expected(adapter(torch.as_tensor(Xt, dtype=torch.float32))).numpy(),
            rtol=1e-5, atol=1e-6,
        )


def test_builtin_backbone_without_pretraining_clusters_the_input(digits_split, fast_params, monkeypatch):
    calls = _spy_initial_assignment(monkeypatch)
    Xs, ys, Xt, _ = digits_split
    SupremeClusterer(**{**fast_params, "pretrain_epochs": 0}).fit(Xt, source=(Xs, ys))
    (call,) = calls
    assert call["features"].shape == (len(Xt), 64)  # an untrained MLP's features say nothing


def test_alpha_and_init_pca_reach_the_initial_assignment(digits_split, fast_params, monkeypatch):
    from sklearn_supreme._initial import initial_assignment

    calls = _spy_initial_assignment(monkeypatch)
    Xs, ys, Xt, _ = digits_split
    model = SupremeClusterer(**fast_params, alpha=3.0, init_pca=False).fit(Xt, source=(Xs, ys))
    (call,) = calls
    assert call["alpha"] == 3.0 and call["pca"] is False
    # and initial_proba_ is that assignment of those features
    p_init, _, _ = initial_assignment(
        call["features"], 5, alpha=3.0, pca=False, random_state=call["random_state"]
    )
    np.testing.assert_allclose(model.initial_proba_, p_init, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "kind",
    ["vector", "uint8_nhwc", "float_nchw", "not-standardized", "float_nchw-not-standardized"],
)
def test_input_statistics_by_hand(digits_split, kind):
    Xs, ys, Xt, _ = digits_split
    params = dict(n_clusters=5, pretrain_epochs=1, max_epochs=1, batch_size=64, random_state=0)
    if kind == "uint8_nhwc":
        # 8x8 digits as one-channel uint8 images, a small CNN
        as_images = lambda X: (X * 16).clip(0, 255).astype(np.uint8).reshape(-1, 8, 8, 1)  # noqa: E731
        Xt, Xs = as_images(Xt), as_images(Xs)
        params.update(backbone="cnn", backbone_params={"width": 4})
    elif kind.startswith("float_nchw"):
        # two channels of 8x8 pixels (the digit and its negative, on another scale):
        # as many channels as neither the height nor the width
        as_images = lambda X: np.stack([X, 100 - 3 * X], axis=1).reshape(-1, 2, 8, 8)  # noqa: E731
        Xt, Xs = as_images(Xt), as_images(Xs)
        params.update(backbone="cnn", backbone_params={"width": 4})
    model = SupremeClusterer(**params, standardize="not-standardized" not in kind)
    adapter = model.fit(Xt, source=(Xs, ys)).net_.module_.adapter
    mean, scale = adapter.mean.numpy().ravel(), adapter.scale.numpy().ravel()
    both = np.concatenate([Xt, Xs]).astype(np.float64)
    if kind == "vector":
        # per-feature mean; one common scale, the root mean variance of the features
        np.testing.assert_allclose(mean, both.mean(axis=0), rtol=1e-5)
        np.testing.assert_allclose(scale, np.sqrt(both.var(axis=0).mean()), rtol=1e-5)
    elif kind == "uint8_nhwc":
        # per channel, of the pixels scaled to [0, 1]
        np.testing.assert_allclose(mean, [(both / 255).mean()], rtol=1e-5)
        np.testing.assert_allclose(scale, [(both / 255).std()], rtol=1e-5)
    elif kind == "float_nchw":
        # per channel, as they are
        np.testing.assert_allclose(mean, both.mean(axis=(0, 2, 3)), rtol=1e-5)
        np.testing.assert_allclose(scale, both.std(axis=(0, 2, 3)), rtol=1e-5)
    else:
        n_stats = 2 if kind.startswith("float_nchw") else 64  # one per channel, or feature
        np.testing.assert_array_equal(mean, np.zeros(n_stats))
        np.testing.assert_array_equal(scale, np.ones(n_stats))


@pytest.mark.parametrize("as_images", [False, True])
def test_read_only_input_fits_and_predicts_without_warnings(
    digits_split, fast_params, as_images, monkeypatch
):
    # GridSearchCV(n_jobs>1) hands large arrays to its workers memory-mapped, read-only;
    # float32 and uint8 arrays are used without a copy, which torch warned about.
    Xs, ys, Xt, _ = digits_split
    params = dict(fast_params)
    if as_images:
        Xt, Xs = ((X * 16).clip(0, 255).astype(np.uint8).reshape(-1, 8, 8, 1) for X in (Xt, Xs))
        params.update(backbone="cnn", backbone_params={"width": 4})
    else:
        Xt, Xs = Xt.astype(np.float32), Xs.astype(np.float32)
    for array in (Xt, Xs):
        array.setflags(write=False)
    # torch warns once per process: a stand-in that warns every time, as torch's first.
    as_tensor = torch.as_tensor

    def warning_as_tensor(data, *args, **kwargs):
        if isinstance(data, np.ndarray) and not data.flags.writeable:
            warnings.warn("The given NumPy array is not writable, and PyTorch ...", UserWarning)
        return as_tensor(data, *args, **kwargs)

    monkeypatch.setattr(torch, "as_tensor", warning_as_tensor)
    with warnings.catch_warnings():
        # (short fits leave clusters empty, and warn of that: not what is tested here)
        warnings.filterwarnings("error", "The given NumPy array is not writable")
        model = SupremeClusterer(**params).fit(Xt, source=(Xs, ys))
        np.testing.assert_array_equal(model.predict(Xt), model.labels_)


def test_input_scale_is_scale_invariant_and_constant_input_keeps_its_own(digits_split):
    from sklearn_supreme._input import _input_statistics

    X = digits_split[2]
    _, unit = _input_statistics(X, "vector", True, seed=0)
    for factor in (1e-9, 1e-12, 1e6):  # a fixed cut-off of 1e-8 took 1e-9 for constant
        _, scale = _input_statistics(X * factor, "vector", True, seed=0)
        np.testing.assert_allclose(scale, unit * factor, rtol=1e-6)
    # Constant input, also at a large offset where float32 cannot resolve what is left
    # of its variation, is not divided by ~0.
    for constant in (np.zeros((50, 3)), np.full((50, 3), 1e6) + np.arange(50)[:, None] * 1e-8):
        _, scale = _input_statistics(constant, "vector", True, seed=0)
        np.testing.assert_array_equal(scale, 1.0)
    # Images: per channel, a channel on a small scale beside one on a large scale.
    rng = np.random.default_rng(0)
    images = np.stack([rng.normal(size=(20, 4, 4)) * 1e-4, rng.normal(size=(20, 4, 4)) * 1e4], 1)
    _, scale = _input_statistics(images, "float_nchw", True, seed=0)
    np.testing.assert_allclose(scale, images.std(axis=(0, 2, 3)), rtol=1e-6)


def test_input_statistics_of_a_large_input_come_from_a_random_sample(monkeypatch):
    import sklearn_supreme._input as input_module

    # Above _STATS_SAMPLES rows the statistics come from a sample of them: drawn at
    # random, not the first rows (data sorted by class would give the first class's).
    monkeypatch.setattr(input_module, "_STATS_SAMPLES", 500)
    X = np.repeat([[0.0], [1.0]], 1000, axis=0)  # sorted: 1000 zeros, then 1000 ones
    mean, scale = input_module._input_statistics(X, "vector", True, seed=0)
    # 500 of 2000 rows drawn without repeats: the share of ones has a std of about
    # sqrt(0.25 / 500 * 1500 / 1999) = 0.019; 0.1 is more than 5 of them
    assert abs(mean[0] - 0.5) < 0.1 and abs(scale[0] - 0.5) < 0.1
    # each array of a (target, source) pair is sampled on its own: 500 rows each (two
    # constant domains, which lie apart)
    with pytest.warns(UserWarning, match="lie apart"):
        mean, _ = input_module._input_statistics((X[:1000], X[1000:]), "vector", True, seed=0)
    assert mean[0] == 0.5


@pytest.mark.parametrize("kind", ["vector", "uint8_nhwc"])
def test_domains_that_lie_apart_are_named_in_a_warning(digits_split, kind):
    # Standardised together, a target offset by 1000 spread over 1 % of the pooled scale:
    # the perturbation's noise swamped its clusters, and a fit whose initial K-means was
    # perfect ended in one cluster, with no other sign than empty clusters.
    from sklearn_supreme._input import _input_statistics

    Xs, _, Xt, _ = digits_split
    if kind == "uint8_nhwc":  # 8x8 images, the target's pixels dim (0-16 of 255)
        Xs, Xt = (np.uint8(X.reshape(-1, 8, 8, 1) * 15) for X in (Xs, Xt))
        Xt = np.uint8(Xt // 16)
    else:
        Xt = Xt + 1000.0
    with pytest.warns(UserWarning, match=r"The target spreads over \d+\.\d% of the scale of "
                                         r"source and target together: they lie apart"):
        _input_statistics((Xt, Xs), kind, True, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _input_statistics((Xs, Xs), kind, True, seed=0)  # alike: nothing to say
        _input_statistics((Xt, Xs), kind, False, seed=0)  # not standardised together
    # The digits split itself (the demo's source and target): nothing to say.
    Xs, _, Xt, _ = digits_split
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _input_statistics((Xt, Xs), "vector", True, seed=0)


def test_auto_n_clusters_judges_the_domains_on_all_the_data():
    # n_clusters="auto" first builds a network of 2 rows of each to check the settings:
    # judged on those, blobs of one dataset warned that they lie apart (in 47 seeds of
    # 100 in a review); on all the data, they do not.
    from sklearn_supreme._input import _input_statistics

    X, y = make_blobs(n_samples=600, centers=6, random_state=2)
    order = np.argsort(y, kind="stable")
    X, y = X[order], y[order]
    target, source = y < 3, y >= 3
    with pytest.warns(UserWarning, match="lie apart"):  # what 2 rows of each would say
        _input_statistics((X[target][:2], X[source][:2]), "vector", True, seed=2)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", ".*lie apart", UserWarning)
        SupremeClusterer("auto", pretrain_epochs=1, max_epochs=1, random_state=0).fit(
            X[target], source=(X[source], y[source])
        )


def test_loss_settings_reach_the_loss(digits_split, monkeypatch):
    import sklearn_supreme._training as training

    seen = []

    def spy(*args, **kwargs):
        seen.append({k: kwargs[k] for k in ("tau", "pair_weighting", "self_weight", "pair_weight",
                                            "balance_weight", "factor_weight", "source_weight")})
        return supreme_loss(*args, **kwargs)

    monkeypatch.setattr(training, "supreme_loss", spy)
    Xs, ys, Xt, _ = digits_split
    settings = dict(tau=0.3, pair_weighting="literal", self_weight=0.4, pair_weight=1.5,
                    balance_weight=2.5, factor_weight=0.3, source_weight=0.6)
    model = SupremeClusterer(
        n_clusters=5, pretrain_epochs=1, max_epochs=2, batch_size=len(Xt), random_state=0,
        **settings,
    ).fit(Xt, source=(Xs, ys))
    assert seen and all(call == settings for call in seen)
    # literal: the loss is the joint pair term and the regularisers, no self term
    h = model.history_
    for epoch in range(2):
        expected = sum(settings[f"{t}_weight"] * h[t][epoch] for t in ("pair", "balance", "factor", "source"))
        assert h["loss"][epoch] == pytest.approx(expected, rel=1e-4)


def test_pickle_and_joblib_round_trip(fitted, digits_split, tmp_path):
    _, _, Xt, _ = digits_split
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict(Xt), fitted.labels_)
    np.testing.assert_allclose(restored.transform(Xt), fitted.transform(Xt))
    joblib.dump(fitted, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_allclose(loaded.predict_proba(Xt), fitted.predict_proba(Xt))
    # The net's module parameter is its fitted network, in the pickle once and one
    # network after it, also after a deep copy.
    assert fitted.net_.module is fitted.net_.module_
    for copied in (restored, loaded, copy.deepcopy(fitted)):
        assert copied.net_.module is copied.net_.module_
    n_bytes = sum(p.numel() * p.element_size() for p in fitted.net_.module_.parameters())
    without_module = copy.copy(fitted)
    without_module.net_ = copy.copy(fitted.net_)
    without_module.net_.module = None
    assert len(pickle.dumps(fitted)) < len(pickle.dumps(without_module)) + n_bytes / 2


def test_clone_and_params():
    model = SupremeClusterer(n_clusters=3, tau=0.2, backbone="mlp", random_state=1)
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    copy.set_params(tau=0.7, max_epochs=4)
    assert copy.tau == 0.7 and copy.max_epochs == 4 and model.tau == 0.2
    with pytest.raises(NotFittedError):
        copy.predict(np.zeros((2, 4)))


# ------------------------------------------------------------------ bad input
def _fit_error(digits_split, **overrides):
    Xs, ys, Xt, _ = digits_split
    args = dict(X=Xt, source=(Xs, ys))
    args.update(overrides)
    model = SupremeClusterer(n_clusters=5, pretrain_epochs=1, max_epochs=1, random_state=0)
    return model, lambda: model.fit(args["X"], source=args["source"])


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda Xs, ys, Xt: dict(source=(Xs[:, :10], ys)), ValueError, "same feature shape"),
        (lambda Xs, ys, Xt: dict(source=(Xs, ys[:-3])), ValueError, "y_source has 297 labels"),
        (lambda Xs, ys, Xt: dict(source=(Xs, np.zeros_like(ys))), ValueError, "at least 2 classes"),
        (lambda Xs, ys, Xt: dict(X=Xt[:3]), ValueError, "n_samples=3 should be >= n_clusters=5"),
        (lambda Xs, ys, Xt: dict(X=np.where(np.arange(64) == 3, np.nan, Xt)), ValueError, "NaN"),
        (lambda Xs, ys, Xt: dict(X=np.where(np.arange(64) == 3, np.inf, Xt)), ValueError, "infinity"),
        (lambda Xs, ys, Xt: dict(source=(np.where(np.arange(64) == 3, np.nan, Xs), ys)), ValueError, "X_source"),
        (lambda Xs, ys, Xt: dict(X=Xt[:0]), ValueError, "0 sample"),
        # scikit-learn's own "Found array with 0 sample(s)" would not name the array
        (lambda Xs, ys, Xt: dict(source=(Xs[:0], ys[:0])), ValueError, r"X_source is empty \(shape \(0, 64\)\)"),
        (lambda Xs, ys, Xt: dict(source=Xs), TypeError, "source must be a pair"),
        (lambda Xs, ys, Xt: dict(source=(Xs, ys, ys)), TypeError, "source must be a pair"),
        (lambda Xs, ys, Xt: dict(X=Xt.reshape(len(Xt), 8, 8)), ValueError, "2-D feature rows or 4-D images"),
        (lambda Xs, ys, Xt: dict(X=Xt * 1e300), ValueError, "X has values beyond the float32 range"),
        (lambda Xs, ys, Xt: dict(source=(Xs * 1e300, ys)), ValueError, "X_source has values beyond"),
        # rows of different lengths, as lists: numpy's own message says it
        (lambda Xs, ys, Xt: dict(X=[list(row) for row in Xt[:-1]] + [list(Xt[-1, :10])]),
         ValueError, "inhomogeneous shape"),
    ],
    ids=[
        "shape-mismatch", "y-length", "one-class", "too-few-samples", "nan", "inf", "nan-source",
        "empty", "empty-source", "not-a-pair", "triple", "3-d", "float32-overflow",
        "float32-overflow-source", "ragged-rows",
    ],
)
def test_bad_input_raises_clear_error(digits_split, make, error, match):
    Xs, ys, Xt, _ = digits_split
    model, fit = _fit_error(digits_split, **make(Xs, ys, Xt))
    with pytest.raises(error, match=match):
        fit()
    with pytest.raises(NotFittedError):
        check_is_fitted(model)


@pytest.mark.parametrize("n, batch_size, sizes", [
    (65, 64, [33, 32]), (128, 64, [64, 64]), (5, 2, [3, 2]), (3, 2, [3]), (2, 64, [2]),
])
def test_even_batches_by_hand(n, batch_size, sizes):
    batches = _even_batches(torch.arange(n), batch_size)
    assert [len(b) for b in batches] == sizes
    assert torch.equal(torch.cat(batches), torch.arange(n))


def test_device_batches_by_hand():
    from skorch.dataset import Dataset

    from sklearn_supreme._training import DeviceBatchIterator

    def batches(n, **kwargs):
        X = torch.arange(n)
        iterator = DeviceBatchIterator(Dataset(X, X * 10), batch_size=2, **kwargs)
        out = [(x.tolist(), y.tolist()) for x, y in iterator]
        assert len(iterator) == len(out)
        assert all(y == [10 * v for v in x] for x, y in out)  # targets follow their samples
        return [x for x, _ in out]

    assert batches(5) == [[0, 1], [2, 3], [4]]
    assert batches(4) == [[0, 1], [2, 3]]  # no empty batch when the batches fill up
    assert batches(5, drop_last=True) == [[0, 1], [2, 3]]
    assert batches(1, drop_last=True) == [[0]]  # the only batch is kept, incomplete or not
    torch.manual_seed(0)
    epochs = [sum(batches(20, shuffle=True), []) for _ in range(2)]
    for order in epochs:  # every sample once, not in their order
        assert sorted(order) == list(range(20)) and order != list(range(20))
    assert epochs[0] != epochs[1]  # a new permutation every epoch


def test_training_batches_are_shuffled_every_epoch_and_complete(digits_split, fast_params):
    from sklearn_supreme._training import SourcePretrainNet

    class Batches(Callback):
        seen = []  # a class attribute: the estimator may copy its callbacks

        def on_epoch_begin(self, net, **kwargs):
            phase = "pretrain" if isinstance(net, SourcePretrainNet) else "cluster"
            self.seen.append((phase, []))

        def on_batch_begin(self, net, batch=None, training=False, **kwargs):
            if training:
                self.seen[-1][1].append(batch[0].numpy().copy())

    Xs, ys, Xt, _ = digits_split
    SupremeClusterer(**fast_params, callbacks=[Batches()]).fit(Xt, source=(Xs, ys))
    rows = {
        "pretrain": {r.tobytes(): i for i, r in enumerate(Xs.astype(np.float32))},
        "cluster": {r.tobytes(): i for i, r in enumerate(Xt.astype(np.float32))},
    }
    orders = {"pretrain": [], "cluster": []}
    for phase, epoch in Batches.seen:
        # 300 source and 250 target samples in batches of 64: 4 and 3 full batches,
        # the incomplete rest dropped
        assert [len(b) for b in epoch] == [64] * (4 if phase == "pretrain" else 3)
        order = [rows[phase][r.tobytes()] for b in epoch for r in b]
        assert len(set(order)) == len(order)  # no sample twice in an epoch
        orders[phase].append(order)
    assert len(orders["pretrain"]) == 2 and len(orders["cluster"]) == 3
    for phase, epochs in orders.items():
        assert all(order != list(range(len(order))) for order in epochs), phase
        assert len({tuple(order) for order in epochs}) == len(epochs), phase


def test_augment_perturbs_the_pretraining_batches_too(digits_split):
    calls = []

    def augment(x):
        calls.append(len(x))
        return x

    Xs, ys, Xt, _ = digits_split
    SupremeClusterer(
        n_clusters=5, pretrain_epochs=2, max_epochs=3, batch_size=50, augment=augment,
        random_state=0,
    ).fit(Xt, source=(Xs, ys))
    # pretraining: 2 epochs of 300 // 50 = 6 source batches; clustering: 3 epochs of
    # 250 // 50 = 5 target batches, each perturbed once
    assert calls == [50] * (2 * 6 + 3 * 5)


@pytest.mark.parametrize(
    "augment, error, message",
    [(lambda x: x[:, :10], ValueError,
      r"returned a batch of shape \(64, 10\) for one of shape \(64, 64\); it must keep"),
     (lambda x: x.numpy(), TypeError,
      r"returned a ndarray; it must return a torch tensor of the batch's shape \(64, 64\)")],
)
def test_augment_of_the_wrong_output_is_named(digits_split, fast_params, augment, error, message):
    Xs, ys, Xt, _ = digits_split
    model = SupremeClusterer(**fast_params, augment=augment)
    with pytest.raises(error, match="augment=<function .*" + message):
        model.fit(Xt, source=(Xs, ys))
    with pytest.raises(NotFittedError):
        check_is_fitted(model)


def test_batch_norm_adaptation_with_a_remainder_of_one(digits_split, fast_params):
    # 65 = 64 + 1: slicing by batch_size would leave batch norm a batch of one sample
    Xs, ys, Xt, _ = digits_split
    model = SupremeClusterer(**{**fast_params, "max_epochs": 1}).fit(Xt[:65], source=(Xs, ys))
    # the statistics were re-estimated on the target: predictions match them
    np.testing.assert_array_equal(model.predict(Xt[:65]), model.labels_)
    bn = next(m for m in model.net_.module_.modules() if isinstance(m, nn.BatchNorm1d))
    assert bn.num_batches_tracked.item() == 2


def test_image_backbone_on_vectors_and_mlp_on_images(digits_split):
    Xs, ys, Xt, _ = digits_split
    with pytest.raises(ValueError, match="image backbone and expects 4-D"):
        SupremeClusterer(n_clusters=5, backbone="cnn").fit(Xt, source=(Xs, ys))
    images = np.zeros((20, 8, 8, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="expects 2-D feature arrays"):
        SupremeClusterer(n_clusters=2, backbone="mlp").fit(images)


def test_infinite_loss_names_the_phase_and_epoch(monkeypatch, digits_split, fast_params):
    # An infinite loss, not only NaN, stops the phase where it occurs (in the only batch
    # of the epoch), rather than leaving NaN weights for the next step to fail on.
    import sklearn_supreme._training as training

    Xs, ys, Xt, _ = digits_split
    monkeypatch.setattr(
        training, "source_cross_entropy",
        lambda logits, y: torch.nn.functional.cross_entropy(logits.float(), y) * float("inf"),
    )
    params = {**fast_params, "pretrain_epochs": 1, "batch_size": 512}
    with pytest.raises(FloatingPointError, match="pretraining loss became non-finite at epoch 1"):
        SupremeClusterer(**params).fit(Xt, source=(Xs, ys))


def test_every_source_sample_can_be_drawn_in_the_clustering_phase():
    # Three source rows told apart by value; the network's input adapter records what it
    # is given: the clustering phase's source batches draw from all three.
    rng = np.random.RandomState(0)
    Xs = 1000.0 + np.arange(3)[:, None] + np.zeros((3, 8))
    seen = []

    class RecordInputs(Callback):
        def on_train_begin(self, net, **kwargs):
            net.module_.adapter.register_forward_pre_hook(
                lambda module, args: seen.append(args[0].clone())
            )

    SupremeClusterer(
        n_clusters=2, pretrain_epochs=0, max_epochs=3, batch_size=16, random_state=0,
        callbacks=[RecordInputs()],
    ).fit(rng.rand(48, 8), source=(Xs, [0, 1, 2]))
    rows = torch.cat(seen)
    assert set((rows[rows[:, 0] >= 1000, 0] - 1000).int().tolist()) == {0, 1, 2}


def test_the_loss_gets_clean_and_perturbed_assignments_in_order(
    monkeypatch, digits_split, fast_params
):
    # The balance term reads the clean assignments only, so their order matters: with
    # every perturbed copy the same (zero) input, only the perturbed rows are all equal.
    import sklearn_supreme._training as training

    Xs, ys, Xt, _ = digits_split
    seen, loss = [], training.supreme_loss

    def spy(p, p_perturbed, *args, **kwargs):
        seen.append((p.detach(), p_perturbed.detach()))
        return loss(p, p_perturbed, *args, **kwargs)

    monkeypatch.setattr(training, "supreme_loss", spy)
    params = {**fast_params, "max_epochs": 1, "augment": torch.zeros_like}
    SupremeClusterer(**params).fit(Xt, source=(Xs, ys))
    p, p_perturbed = seen[0]
    assert torch.allclose(p_perturbed, p_perturbed[:1].expand_as(p_perturbed))
    assert not torch.allclose(p, p[:1].expand_as(p))


def test_backbone_with_wrong_output_shape(digits_split):
    class Flat(nn.Module):
        def forward(self, x):
            return x.unsqueeze(1)  # (N, 1, D): not one vector per sample

    Xs, ys, Xt, _ = digits_split
    with pytest.raises(ValueError, match=r"shape \(N, D\)"):
        SupremeClusterer(n_clusters=5, backbone=Flat()).fit(Xt, source=(Xs, ys))


def test_nan_loss_names_epoch_and_keeps_previous_fit(fitted, digits_split):
    Xs, ys, Xt, _ = digits_split
    model = clone(fitted).set_params(pretrain_epochs=0, augment=lambda x: x * float("nan"))
    with pytest.raises(FloatingPointError, match="non-finite at epoch 1"):
        model.fit(Xt, source=(Xs, ys))
    with pytest.raises(NotFittedError):
        check_is_fitted(model)

    # a fitted estimator that fails a refit keeps its previous, complete state
    refit = pickle.loads(pickle.dumps(fitted))
    labels = refit.labels_.copy()
    refit.set_params(pretrain_epochs=0, augment=lambda x: x * float("nan"))
    with pytest.raises(FloatingPointError):
        refit.fit(Xt, source=(Xs, ys))
    np.testing.assert_array_equal(refit.labels_, labels)
    np.testing.assert_array_equal(refit.predict(Xt), labels)


def test_memory_pretrains_once_across_clustering_parameters(
    digits_split, fast_params, tmp_path, pretrained_on
):
    Xs, ys, Xt, _ = digits_split
    fit = lambda **p: SupremeClusterer(**{**fast_params, **p}).fit(Xt, source=(Xs, ys))  # noqa: E731
    cached = [
        fit(tau=1.0, memory=str(tmp_path)),
        fit(tau=0.25, balance_weight=5.0, max_epochs=2, freeze="backbone.*", memory=str(tmp_path),
            verbose=0),
    ]
    assert pretrained_on == [len(Xs)]  # once: the second fit read the start back
    plain = [fit(tau=1.0), fit(tau=0.25, balance_weight=5.0, max_epochs=2, freeze="backbone.*")]
    for got, expected in zip(cached, plain):
        # the same model as without the cache, bit for bit on the CPU
        np.testing.assert_array_equal(got.labels_, expected.labels_)
        np.testing.assert_array_equal(got.initial_labels_, expected.initial_labels_)
        np.testing.assert_array_equal(got.predict_proba(Xt), expected.predict_proba(Xt))
        assert got.pretrain_history_["loss"] == expected.pretrain_history_["loss"]

    # anything the start depends on is part of the key: each of these pretrains again,
    # in the same cache (a joblib.Memory given a str shares the directory of the str;
    # given a Path, joblib would keep a separate one)
    same_cache = joblib.Memory(str(tmp_path), verbose=0)
    for change in [dict(lr=3e-3), dict(random_state=1), dict(n_clusters=4), dict(alpha=2.0)]:
        pretrained_on.clear()
        model = fit(memory=same_cache, **change)
        assert pretrained_on == [len(Xs)], change
        assert model.n_clusters_ == change.get("n_clusters", fast_params["n_clusters"])
    pretrained_on.clear()
    fit(memory=same_cache, tau=0.5)
    assert pretrained_on == []
    SupremeClusterer(**fast_params, memory=str(tmp_path)).fit(Xt[:-1], source=(Xs, ys))
    assert pretrained_on == [len(Xs)]


def test_fit_needs_two_target_samples_even_for_one_cluster(digits_split):
    _, _, Xt, _ = digits_split
    with pytest.raises(ValueError, match=r"n_samples=1: SupremeClusterer needs at least 2 target"):
        SupremeClusterer(n_clusters=1, pretrain_epochs=0, max_epochs=1).fit(Xt[:1])


def test_invalid_parameters_are_rejected(digits_split):
    _, _, Xt, _ = digits_split
    with pytest.raises(ValueError, match="tau"):
        SupremeClusterer(tau=0).fit(Xt)
    with pytest.raises(ValueError, match="pair_weighting"):
        SupremeClusterer(pair_weighting="diagonal").fit(Xt)
    with pytest.raises(TypeError, match="backbone must be"):
        SupremeClusterer(n_clusters=5, backbone=len).fit(Xt)
    with pytest.raises(ValueError, match="not a torch device"):
        SupremeClusterer(n_clusters=5, device="gpu0").fit(Xt)
    with pytest.raises(ValueError, match="'memory' parameter"):
        SupremeClusterer(n_clusters=5, memory=3).fit(Xt)
    with pytest.raises(ValueError, match="backbone_params cannot be used with a backbone instance"):
        SupremeClusterer(
            n_clusters=5, backbone=torch.nn.Linear(64, 8), backbone_params={"width": 8}
        ).fit(Xt)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device='cuda' was asked for, but CUDA is not"):
            SupremeClusterer(n_clusters=5, device="cuda").fit(Xt)
    # bool is an int to Python and to scikit-learn's Interval(Integral, ...): True would
    # reach torch as a layer size of 1 and fail there, naming no parameter.
    for name in ("n_clusters", "n_factors", "max_epochs", "pretrain_epochs", "checkpoint_every"):
        with pytest.raises(
            InvalidParameterError, match=f"The '{name}' parameter of SupremeClusterer must be "
                                         "an int, not a bool. Got True"
        ):
            SupremeClusterer(**{"n_clusters": 5, name: True}).fit(Xt)


@pytest.mark.parametrize("pretrain_epochs, with_source", [(0, True), (2, False)])
def test_a_fit_without_pretraining_embeds_on_the_training_device(
    digits_split, monkeypatch, pretrain_epochs, with_source
):
    # The network is built on the CPU and skorch moves it only when a net trains it:
    # without pretraining, the initial features were computed by a CPU network from
    # input already on the device, which failed on CUDA. torch's "meta" device stands
    # in for it here: the fit stops at the embedding, where both devices are recorded.
    from sklearn_supreme import _estimator

    seen = []

    def embed(network, X, *args):
        seen.append((next(network.parameters()).device.type, X.device.type))
        raise InterruptedError("stop at the embedding")

    monkeypatch.setattr(_estimator, "_embed", embed)
    monkeypatch.setattr(SupremeClusterer, "_resolve_device", lambda self: torch.device("meta"))
    Xs, ys, Xt, _ = digits_split
    model = SupremeClusterer(n_clusters=5, pretrain_epochs=pretrain_epochs, random_state=0)
    with pytest.raises(InterruptedError):
        model.fit(Xt, source=(Xs, ys) if with_source else None)
    assert seen == [("meta", "meta")]


def test_unusable_devices_are_named(monkeypatch):
    # Each is refused by fit's first checks, not by the first tensor moved there.
    with pytest.raises(ValueError, match="device='xpu' was asked for, but is not usable here"):
        SupremeClusterer(device="xpu")._resolve_device()
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device='mps' was asked for, but MPS is not available"):
        SupremeClusterer(device="mps")._resolve_device()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert SupremeClusterer(device="cuda:1")._resolve_device() == torch.device("cuda:1")
    with pytest.raises(ValueError, match="device='cuda:2' was asked for, but this machine has "
                                         "2 CUDA device"):
        SupremeClusterer(device="cuda:2")._resolve_device()
    # Usable, but with no data: it failed at the first copy back, naming no parameter.
    with pytest.raises(ValueError, match="device='meta' holds no data"):
        SupremeClusterer(device="meta")._resolve_device()


def test_images_too_small_for_the_small_cnn_are_named():
    images = np.random.RandomState(0).randint(0, 256, (40, 3, 5, 1)).astype(np.uint8)
    with pytest.raises(ValueError, match=r"backbone failed on input of shape \(3, 5, 1\).*The "
                                         r"small CNN \(backbone='cnn'\) needs images of at "
                                         r"least 4x4 pixels; backbone='resnet18'"):
        SupremeClusterer(2, pretrain_epochs=0, max_epochs=1).fit(images)


def test_auto_n_clusters_checks_the_network_before_estimating(digits_split, monkeypatch, tmp_path):
    # The estimate runs for minutes on large data: a setting that cannot build the
    # network fails before it, as with an int n_clusters.
    from sklearn_supreme import model_selection

    estimated = []
    monkeypatch.setattr(
        model_selection, "estimate_n_clusters", lambda *a, **k: estimated.append(1)
    )
    Xs, ys, Xt, _ = digits_split
    model = SupremeClusterer(n_clusters="auto", backbone_params={"hidden_units": 64})
    with pytest.raises(ValueError, match="do not build backbone='mlp'"):
        model.fit(Xt, source=(Xs, ys))
    with pytest.raises(ValueError, match="freeze"):
        SupremeClusterer(n_clusters="auto", freeze=["no_such_layer"]).fit(Xt, source=(Xs, ys))
    with pytest.raises(ValueError, match="cannot be hashed by joblib"):
        SupremeClusterer(
            n_clusters="auto", memory=str(tmp_path), augment=lambda X: X
        ).fit(Xt, source=(Xs, ys))
    assert estimated == [] and not hasattr(model, "n_clusters_")


def _factor_dtypes(dtypes):
    """A callback recording the dtype of the factor layer's output, in training (with
    gradients) and in inference (not AdaBN's passes, which run in training mode)."""

    class FactorDtypes(Callback):
        def on_train_begin(self, net, **kwargs):
            def record(module, inputs, output):
                if torch.is_grad_enabled():
                    dtypes["train"].add(output.dtype)
                elif not module.training:
                    dtypes["infer"].add(output.dtype)
            net.module_.factor.register_forward_hook(record)

    return FactorDtypes()


def _computed_in_bf16(Z):
    """Whether float32 values are all exactly representable in bf16, as values
    computed in bf16 are; float32 ones are not."""
    return np.array_equal(torch.from_numpy(Z).to(torch.bfloat16).float().numpy(), Z)


@pytest.mark.parametrize(
    "precision, expected", [("auto", "float32"), ("float32", "float32"), ("bfloat16", "bfloat16")]
)
def test_training_and_inference_follow_precision(digits_split, fast_params, precision, expected):
    # "auto" is float32 on the CPU; "bfloat16" runs every training step of both phases
    # and the inference under bf16 autocast there too.
    Xs, ys, Xt, _ = digits_split
    dtypes = {"train": set(), "infer": set()}
    model = SupremeClusterer(
        precision=precision, callbacks=[_factor_dtypes(dtypes)], **fast_params
    ).fit(Xt, source=(Xs, ys))
    assert model.precision_ == expected
    dtype = getattr(torch, expected)
    assert dtypes == {"train": {dtype}, "infer": {dtype}}
    Z = model.transform(Xt)
    assert Z.dtype == np.float32  # transform's output stays float32 either way
    assert _computed_in_bf16(Z) == (expected == "bfloat16")


def test_prediction_resolves_precision_again(digits_split, fast_params):
    # Like batch_size, precision applies to each prediction as it is set then: a model
    # trained in bf16 predicts in float32 when asked, and the labels barely move.
    Xs, ys, Xt, _ = digits_split
    model = SupremeClusterer(precision="bfloat16", **fast_params).fit(Xt, source=(Xs, ys))
    assert _computed_in_bf16(model.transform(Xt))
    model.set_params(precision="float32")
    assert not _computed_in_bf16(model.transform(Xt))
    assert model.precision_ == "bfloat16"  # what it was trained in
    assert np.mean(model.predict(Xt) == model.labels_) > 0.95


@pytest.mark.parametrize(
    "device, capability, expected",
    [("cuda", (7, 5), "float32"), ("cuda:1", (8, 0), "bfloat16"), ("cuda", (9, 0), "bfloat16"),
     ("cpu", (9, 0), "float32")],
)
def test_auto_precision_is_bf16_only_on_gpus_that_compute_it(
    monkeypatch, device, capability, expected
):
    # A T4 (7.5) or a V100 (7.0) emulates bf16: "auto" trains them in float32.
    from sklearn_supreme._training import resolve_precision

    asked = []

    def capability_of(d):
        asked.append(torch.device(d))
        return capability

    monkeypatch.setattr(torch.cuda, "get_device_capability", capability_of)
    assert resolve_precision("auto", device) == expected
    assert asked == ([torch.device(device)] if device.startswith("cuda") else [])
    for explicit in ("float32", "bfloat16"):
        assert resolve_precision(explicit, device) == explicit


def test_memory_keys_the_start_on_the_resolved_precision(
    digits_split, fast_params, tmp_path, pretrained_on, monkeypatch
):
    # "auto" means bf16 on one GPU and float32 on another: the same parameters must not
    # share a start computed in another precision.
    from sklearn_supreme import _estimator

    Xs, ys, Xt, _ = digits_split
    fit = lambda: SupremeClusterer(**fast_params, memory=str(tmp_path)).fit(Xt, source=(Xs, ys))  # noqa: E731
    assert fit().precision_ == "float32"
    assert fit() and pretrained_on == [len(Xs)]  # read back
    monkeypatch.setattr(_estimator, "resolve_precision", lambda precision, device: "bfloat16")
    assert fit().precision_ == "bfloat16"
    assert pretrained_on == [len(Xs), len(Xs)]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a CPU-only machine")
def test_cuda_requested_without_cuda(digits_split):
    _, _, Xt, _ = digits_split
    with pytest.raises(ValueError, match="CUDA is not available"):
        SupremeClusterer(n_clusters=5, device="cuda").fit(Xt)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_fit_predicts_on_cpu_after_pickle(digits_split, fast_params):
    Xs, ys, Xt, _ = digits_split
    model = SupremeClusterer(device="cuda", **fast_params).fit(Xt, source=(Xs, ys))
    assert model.device_.startswith("cuda")
    state = pickle.dumps(model)
    restored = pickle.loads(state)
    restored.net_.set_params(device="cpu")
    restored.net_.module_.cpu()
    np.testing.assert_array_equal(restored.predict(Xt), model.labels_)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the load on a CPU-only machine")
def test_model_of_a_cuda_fit_loads_and_predicts_on_a_cpu_only_machine(
    fitted, digits_split, monkeypatch
):
    # No CUDA tensor can be made here, so the CUDA fit is simulated: the fitted net
    # says it lives on "cuda", as after a fit on a GPU, and every tensor is pickled
    # with the location torch writes for a CUDA tensor. skorch then maps the pickled
    # state to the CPU (with its DeviceWarning) and the net's device follows;
    # prediction must use that, not the device the model was fitted on.
    _, _, Xt, _ = digits_split
    fitted_on_gpu = copy.deepcopy(fitted)
    fitted_on_gpu.net_.device = fitted_on_gpu.device_ = "cuda"
    with monkeypatch.context() as patch:
        patch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        state = pickle.dumps(fitted_on_gpu)
    with pytest.warns(DeviceWarning, match="no CUDA devices are available"), \
            pytest.warns(DeviceWarning, match=r"Setting self.device = cpu"):
        restored = pickle.loads(state)
    assert str(restored.net_.device) == "cpu"
    np.testing.assert_array_equal(restored.predict(Xt), fitted.labels_)
    np.testing.assert_allclose(restored.predict_proba(Xt), fitted.predict_proba(Xt))
    np.testing.assert_allclose(restored.transform(Xt), fitted.transform(Xt))


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("g++") is None and shutil.which("clang++") is None,
    reason="torch.compile's inductor backend builds C++ on the CPU",
)
def test_compiled_training_matches_eager(digits_split, fast_params):
    # torch.compile changes how the training step runs, not what it computes: on the
    # CPU the compiled fit reaches the eager fit's model up to float rounding.
    Xs, ys, Xt, _ = digits_split
    eager = SupremeClusterer(**fast_params).fit(Xt, source=(Xs, ys))
    compiled = SupremeClusterer(compile=True, **fast_params).fit(Xt, source=(Xs, ys))
    np.testing.assert_allclose(compiled.history_["loss"], eager.history_["loss"], rtol=1e-4)
    np.testing.assert_array_equal(compiled.labels_, eager.labels_)
    # The fitted model holds no compiled code, so it pickles like an eager one.
    assert "_compiled_encode" not in compiled.net_.module_.__dict__
    restored = pickle.loads(pickle.dumps(compiled))
    np.testing.assert_array_equal(restored.predict(Xt), compiled.labels_)


def test_compile_encoder_traces_any_backbone_and_is_dropped_by_copies():
    import torch._dynamo.testing

    from sklearn_supreme._networks import InputAdapter, SupremeNetwork

    backbone = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU())
    network = SupremeNetwork(
        InputAdapter(np.zeros(4), np.ones(4), "vector"), backbone, 6, n_factors=3,
        n_source_classes=2, n_clusters=2,
    )
    x = torch.randn(5, 4)
    expected = network.encode(x)
    torch._dynamo.reset()
    counting = torch._dynamo.testing.CompileCounter()
    network.compile_encoder(backend=counting)
    torch.testing.assert_close(network.encode(x), expected)
    assert counting.frame_count == 1  # a built-in nn.Sequential backbone was traced
    for copied in (pickle.loads(pickle.dumps(network)), copy.deepcopy(network)):
        assert "_compiled_encode" not in copied.__dict__
        torch.testing.assert_close(copied.encode(x), expected)
    assert list(network.state_dict()) == list(copied.state_dict())
