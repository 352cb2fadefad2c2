"""Checkpoints, resuming, warm start and interruption: a fit is never left half-done."""

import copy
import re
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
from skorch.callbacks import BatchScoring, Callback, EarlyStopping, EpochScoring
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.utils.validation import check_is_fitted

from sklearn_supreme import SupremeClusterer
from sklearn_supreme._checkpoint import load_checkpoint, rng_state, set_rng_state
from sklearn_supreme._training import SupremeNet
from sklearn_supreme.metrics import cluster_accuracy_scorer
from sklearn_supreme.model_selection import estimate_n_clusters

PARAMS = dict(n_clusters=5, pretrain_epochs=3, max_epochs=4, batch_size=64, random_state=0)


class FailAt(Callback):
    """Raises ``error`` at the end of epoch ``epoch`` of ``phase`` (fault injection)."""

    def __init__(self, phase, epoch, error=RuntimeError):
        self.phase = phase
        self.epoch = epoch
        self.error = error

    def on_epoch_end(self, net, **kwargs):
        if net.phase.lower().startswith(self.phase) and len(net.history) == self.epoch:
            raise self.error(f"injected failure at {self.phase} epoch {self.epoch}")


@pytest.fixture(scope="module")
def uninterrupted(digits_split):
    Xs, ys, Xt, _ = digits_split
    return SupremeClusterer(**PARAMS).fit(Xt, source=(Xs, ys))


def _checkpoints(directory):
    return sorted(Path(directory).glob("supreme_checkpoint_*.pt"))


def _only_checkpoint(directory):
    (path,) = _checkpoints(directory)
    return path


@pytest.fixture
def ctrl_c_raises():
    """Python's own SIGINT handler, which raises KeyboardInterrupt: a process started in
    the background (as CI may run the suite) ignores SIGINT instead."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


class CtrlCAt(FailAt):
    """Sends this process a SIGINT, as Ctrl-C does, at the end of an epoch."""

    def on_epoch_end(self, net, **kwargs):
        if net.phase.lower().startswith(self.phase) and len(net.history) == self.epoch:
            signal.raise_signal(signal.SIGINT)


class StopAt(FailAt):
    """Ends a phase early the way skorch's callbacks do: by raising KeyboardInterrupt."""

    def __init__(self, phase, epoch):
        super().__init__(phase, epoch, KeyboardInterrupt)


class CountEpochs(Callback):
    def __init__(self):
        self.epochs = []

    def on_epoch_end(self, net, **kwargs):
        self.epochs.append(net.phase)


def _states_equal(a, b):
    sa, sb = a.net_.module_.state_dict(), b.net_.module_.state_dict()
    return all(torch.allclose(sa[k].float(), sb[k].float(), atol=1e-6) for k in sa)


@pytest.mark.parametrize("phase, epoch", [("clustering", 2), ("source", 2)])
def test_resume_after_failure_matches_uninterrupted_fit(digits_split, uninterrupted, tmp_path, phase, epoch):
    Xs, ys, Xt, _ = digits_split
    failing = SupremeClusterer(**PARAMS, checkpoint_dir=tmp_path, callbacks=[FailAt(phase, epoch)])
    with pytest.raises(RuntimeError, match="injected failure"):
        failing.fit(Xt, source=(Xs, ys))
    with pytest.raises(NotFittedError):
        check_is_fitted(failing)
    state = load_checkpoint(_only_checkpoint(tmp_path))
    # the checkpoint callback runs after the user's: the failing epoch was not saved
    assert state["epoch"] == epoch - 1 and state["phase"] == ("cluster" if phase == "clustering" else "pretrain")

    resumed = SupremeClusterer(**PARAMS, checkpoint_dir=tmp_path).fit(Xt, source=(Xs, ys))
    # same seed on the CPU: the resumed run continues exactly where the first stopped
    np.testing.assert_array_equal(resumed.labels_, uninterrupted.labels_)
    np.testing.assert_allclose(resumed.history_["loss"], uninterrupted.history_["loss"], rtol=1e-5)
    np.testing.assert_allclose(resumed.pretrain_history_["loss"], uninterrupted.pretrain_history_["loss"], rtol=1e-5)
    assert _states_equal(resumed, uninterrupted)


def test_fits_with_other_parameters_or_data_keep_their_own_checkpoints(digits_split, tmp_path):
    Xs, ys, Xt, _ = digits_split
    SupremeClusterer(**PARAMS, checkpoint_dir=tmp_path).fit(Xt, source=(Xs, ys))
    first = _only_checkpoint(tmp_path)
    first_state = load_checkpoint(first)
    other = SupremeClusterer(**{**PARAMS, "tau": 0.1}, checkpoint_dir=tmp_path)
    other.fit(Xt, source=(Xs, ys))
    (second,) = set(_checkpoints(tmp_path)) - {first}
    plain = SupremeClusterer(**{**PARAMS, "tau": 0.1}).fit(Xt, source=(Xs, ys))
    # the other fit started afresh beside the first, which it left as it was
    np.testing.assert_array_equal(other.labels_, plain.labels_)
    assert _states_equal(other, plain)
    SupremeClusterer(**PARAMS, checkpoint_dir=tmp_path).fit(Xt[:-1], source=(Xs, ys))
    assert len(_checkpoints(tmp_path)) == 3
    assert load_checkpoint(first)["fingerprint"] == first_state["fingerprint"]
    assert torch.equal(load_checkpoint(first)["module"]["target_head.weight"],
                       first_state["module"]["target_head.weight"])
    # a file whose name says one fit but holds another is refused, not trusted
    first.replace(second)
    with pytest.raises(ValueError, match="checkpoint of a different fit"):
        SupremeClusterer(**{**PARAMS, "tau": 0.1}, checkpoint_dir=tmp_path).fit(Xt, source=(Xs, ys))


def test_refit_of_a_finished_checkpoint_reads_the_model_back(digits_split, uninterrupted, tmp_path):
    Xs, ys, Xt, _ = digits_split
    SupremeClusterer(**PARAMS, checkpoint_dir=tmp_path).fit(Xt, source=(Xs, ys))
    counter = CountEpochs()
    again = SupremeClusterer(**PARAMS, checkpoint_dir=tmp_path, callbacks=[counter])
    again.fit(Xt, source=(Xs, ys))
    assert counter.epochs == []  # no epoch of either phase was trained again
    np.testing.assert_array_equal(again.labels_, uninterrupted.labels_)
    assert again.n_iter_ == PARAMS["max_epochs"] and _states_equal(again, uninterrupted)


@pytest.mark.parametrize("random_state", [None, "RandomState"])
def test_resume_reuses_the_seed_and_n_clusters_of_the_interrupted_fit(
    digits_split, tmp_path, monkeypatch, random_state
):
    # With random_state=None a fresh fit draws another seed, and n_clusters="auto"
    # could estimate another K, which would not fit the checkpoint's network. A
    # RandomState instance, whose state each fit advances, resumes the same way.
    Xs, ys, Xt, _ = digits_split
    drawn = []

    def spy(*args, **kwargs):
        drawn.append(kwargs["random_state"])
        return estimate_n_clusters(*args, **kwargs)

    monkeypatch.setattr("sklearn_supreme.model_selection.estimate_n_clusters", spy)
    params = {**PARAMS, "n_clusters": "auto", "random_state": None, "checkpoint_dir": tmp_path}
    if random_state == "RandomState":
        params["random_state"] = np.random.RandomState(0)
    with pytest.raises(RuntimeError, match="injected"):
        SupremeClusterer(**params, callbacks=[FailAt("clustering", 2)]).fit(Xt, source=(Xs, ys))
    state = load_checkpoint(_only_checkpoint(tmp_path))
    resumed = SupremeClusterer(**params).fit(Xt, source=(Xs, ys))
    assert len(_checkpoints(tmp_path)) == 1
    assert drawn == [state["seed"], state["seed"]]
    assert resumed.n_clusters_ == state["n_clusters"]
    np.testing.assert_array_equal(resumed.initial_labels_, state["initial_labels"].numpy())
    assert resumed.n_iter_ == PARAMS["max_epochs"]

    # should the estimate ever differ, the error says so instead of a size mismatch
    monkeypatch.setattr(
        "sklearn_supreme.model_selection.estimate_n_clusters",
        lambda *a, **k: (state["n_clusters"] + 1, None),
    )
    with pytest.raises(
        ValueError, match=f"written by a fit with n_clusters={state['n_clusters']}"
    ), pytest.warns(UserWarning, match="its model is read back"):
        SupremeClusterer(**params).fit(Xt, source=(Xs, ys))


@pytest.mark.parametrize("random_state", [None, "RandomState", 0])
def test_reading_back_a_finished_fit_warns_when_a_new_draw_was_asked(
    digits_split, tmp_path, random_state
):
    # The file answers for every repeat of the fit (a rerun script finds what continues
    # it); with random_state=None repeats would silently not vary, so it says so.
    Xs, ys, Xt, _ = digits_split
    params = {**PARAMS, "random_state": random_state, "checkpoint_dir": tmp_path}
    if random_state == "RandomState":
        params["random_state"] = np.random.RandomState(0)
    with pytest.raises(RuntimeError, match="injected"):
        SupremeClusterer(**params, callbacks=[FailAt("clustering", 2)]).fit(Xt, source=(Xs, ys))
    with warnings.catch_warnings():
        # an interrupted fit resumes without a word
        warnings.filterwarnings("error", "checkpoint_dir holds this fit", UserWarning)
        first = SupremeClusterer(**params).fit(Xt, source=(Xs, ys))
    counter = CountEpochs()
    repeat = SupremeClusterer(**params, callbacks=[counter])
    if random_state == 0:
        with warnings.catch_warnings():
            warnings.filterwarnings("error", "checkpoint_dir holds this fit", UserWarning)
            repeat.fit(Xt, source=(Xs, ys))
    else:
        with pytest.warns(UserWarning, match=r"finished \(supreme_checkpoint_.*\.pt\): its "
                          r"model is read back\. With (random_state=None|a RandomState as "
                          r"random_state), every repeat") as w:
            repeat.fit(Xt, source=(Xs, ys))
        assert w[0].filename == __file__  # the caller's line
    assert counter.epochs == []
    np.testing.assert_array_equal(repeat.labels_, first.labels_)


def test_search_clones_share_a_checkpoint_dir(digits_split, tmp_path):
    # Each fit of the search (2 taus x 2 folds, and the refit) writes its own file,
    # also from parallel workers, and the search's results are those without them.
    Xs, ys, Xt, yt = digits_split
    params = {**PARAMS, "pretrain_epochs": 1, "max_epochs": 2}

    def search(**extra):
        return GridSearchCV(
            SupremeClusterer(**params, **extra), {"tau": [0.1, 1.0]},
            scoring=cluster_accuracy_scorer, cv=KFold(2, shuffle=True, random_state=0),
            n_jobs=2, error_score="raise",
        ).fit(Xt, yt, source=(Xs, ys))

    with_checkpoints = search(checkpoint_dir=str(tmp_path))
    assert len(_checkpoints(tmp_path)) == 5
    np.testing.assert_allclose(
        with_checkpoints.cv_results_["mean_test_score"], search().cv_results_["mean_test_score"]
    )


_FINGERPRINTS = """
import joblib, sys, torch
from sklearn_supreme import SupremeClusterer
torch.manual_seed(0)
backbone = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.BatchNorm1d(32))
model = SupremeClusterer(backbone=backbone, pretrain_epochs=0, checkpoint_dir=sys.argv[1])
print(model._resumable_checkpoint("data")[0].name, joblib.hash(model._hashable_start_params()))
lazy = SupremeClusterer(backbone=torch.nn.LazyLinear(8), checkpoint_dir=sys.argv[1])
print(lazy._resumable_checkpoint("data")[0].name, joblib.hash(lazy._hashable_start_params()))
"""


class Scaled(torch.nn.Module):
    """A backbone with a setting that forward reads, besides its weights."""

    def __init__(self, scale):
        super().__init__()
        torch.manual_seed(0)
        self.linear = torch.nn.Linear(64, 16)
        self.scale = scale

    def forward(self, x):
        return self.scale * self.linear(x)


def test_a_module_backbone_keys_checkpoint_and_memory_alike_in_every_process(tmp_path):
    # joblib hashes by pickling, and a pickled tensor carries an id of its process: the
    # checkpoint of an interrupted fit with a trained backbone instance (the documented
    # way to skip pretraining) was not found by the next process, nor a memory entry.
    def keys():
        run = subprocess.run(
            [sys.executable, "-c", _FINGERPRINTS, str(tmp_path)],
            capture_output=True, text=True, check=True,
        )
        return run.stdout.split()

    first = keys()
    assert first == keys() and len(first) == 4
    # Still the module's state: the same network with other weights, another key; and
    # so is a setting forward reads (the same weights, another scale).
    torch.manual_seed(1)
    backbone = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.BatchNorm1d(32))
    model = SupremeClusterer(backbone=backbone, pretrain_epochs=0, checkpoint_dir=tmp_path)
    assert model._resumable_checkpoint("data")[0].name != first[0]
    one, zero = (SupremeClusterer(backbone=Scaled(s), memory=str(tmp_path)) for s in (1.0, 0.0))
    assert joblib.hash(one._hashable_start_params()) != joblib.hash(zero._hashable_start_params())


def test_a_lazy_module_backbone_fits_with_checkpoints_and_memory(digits_split, tmp_path):
    # Its parameters have no values before the first forward: keyed by their class.
    Xs, ys, Xt, _ = digits_split
    for option in ({"checkpoint_dir": tmp_path / "checkpoints"}, {"memory": str(tmp_path)}):
        torch.manual_seed(0)
        backbone = torch.nn.Sequential(torch.nn.LazyLinear(32), torch.nn.ReLU())
        model = SupremeClusterer(**{**PARAMS, "max_epochs": 1}, backbone=backbone, **option)
        assert model.fit(Xt, source=(Xs, ys)).n_iter_ == 1


def test_checkpoint_dir_needs_parameters_that_pickle(digits_split, tmp_path):
    Xs, ys, Xt, _ = digits_split
    model = SupremeClusterer(**PARAMS, checkpoint_dir=tmp_path, augment=lambda x: x)
    with pytest.raises(ValueError, match="checkpoint_dir names each fit's checkpoint by a hash"):
        model.fit(Xt, source=(Xs, ys))
    assert not _checkpoints(tmp_path)


def test_generator_states_are_the_fits_device_only(monkeypatch):
    # No GPU here: torch.cuda's state functions are stood in for, and record what
    # they are asked. A fit on cuda:1 records and restores cuda:1's generator alone;
    # "cuda" means the current device; the CPU never touches CUDA.
    calls = []
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_rng_state",
                        lambda index: calls.append(("get", index)) or torch.tensor([index]))
    monkeypatch.setattr(torch.cuda, "set_rng_state",
                        lambda state, index: calls.append(("set", state.item(), index)))
    state = rng_state("cuda:1")
    assert calls == [("get", 1)] and state["cuda"].item() == 1
    assert torch.equal(state["cpu"], torch.get_rng_state())
    calls.clear()
    set_rng_state(state, "cuda:1")
    set_rng_state({**state, "cuda": torch.tensor([7])}, "cuda")
    assert calls == [("set", 1, 1), ("set", 7, 2)]
    # Written by an earlier version: every GPU's state, of which the fit's is read.
    calls.clear()
    old = {"cpu": state["cpu"], "cuda": [torch.tensor([10]), torch.tensor([11])]}
    set_rng_state(old, "cuda:1")
    set_rng_state(old, "cuda:5")  # no state for that device: left as it is
    assert calls == [("set", 11, 1)]
    calls.clear()
    assert "cuda" not in rng_state("cpu")
    set_rng_state(old, "cpu")
    assert calls == []


def test_a_checkpoint_dir_that_does_not_exist_yet_is_created(digits_split, tmp_path):
    Xs, ys, Xt, _ = digits_split
    directory = tmp_path / "runs" / "checkpoints"
    SupremeClusterer(**PARAMS, checkpoint_dir=directory).fit(Xt, source=(Xs, ys))
    assert len(list(directory.glob("supreme_checkpoint_*.pt"))) == 1


def test_fit_puts_back_the_sigint_handler_it_found(digits_split):
    Xs, ys, Xt, _ = digits_split
    before = signal.getsignal(signal.SIGINT)
    SupremeClusterer(**PARAMS).fit(Xt, source=(Xs, ys))
    assert signal.getsignal(signal.SIGINT) is before


def test_checkpoint_every_saves_every_kth_epoch(digits_split, tmp_path):
    Xs, ys, Xt, _ = digits_split
    # 3 pretraining epochs, then a failure at the end of clustering epoch 2: with
    # checkpoint_every=3 the last save was pretraining epoch 3 (clustering epoch 3 is
    # the next one due); with 1 it would be clustering epoch 1
    failing = SupremeClusterer(
        **PARAMS, checkpoint_dir=tmp_path, checkpoint_every=3, callbacks=[FailAt("clustering", 2)]
    )
    with pytest.raises(RuntimeError, match="injected failure"):
        failing.fit(Xt, source=(Xs, ys))
    state = load_checkpoint(_only_checkpoint(tmp_path))
    assert (state["phase"], state["epoch"]) == ("pretrain", 3)


def test_end_of_each_phase_is_saved_whatever_checkpoint_every(
    digits_split, uninterrupted, tmp_path
):
    Xs, ys, Xt, _ = digits_split
    # checkpoint_every=10 is longer than either phase (3 and 4 epochs): no epoch is
    # due, and what is saved is the end of each phase
    params = {**PARAMS, "checkpoint_dir": tmp_path, "checkpoint_every": 10}
    failing = SupremeClusterer(**params, callbacks=[FailAt("clustering", 2)])
    with pytest.raises(RuntimeError, match="injected failure"):
        failing.fit(Xt, source=(Xs, ys))
    state = load_checkpoint(_only_checkpoint(tmp_path))
    assert (state["phase"], state["epoch"]) == ("pretrain", PARAMS["pretrain_epochs"])
    counter = CountEpochs()
    resumed = SupremeClusterer(**params, callbacks=[counter]).fit(Xt, source=(Xs, ys))
    assert counter.epochs == [SupremeNet.phase] * PARAMS["max_epochs"]  # no pretraining again
    np.testing.assert_array_equal(resumed.labels_, uninterrupted.labels_)
    state = load_checkpoint(_only_checkpoint(tmp_path))
    assert (state["phase"], state["epoch"]) == ("cluster", PARAMS["max_epochs"])
    counter.epochs.clear()
    SupremeClusterer(**params, callbacks=[counter]).fit(Xt, source=(Xs, ys))
    assert counter.epochs == []  # the finished fit is read back


def test_ctrl_c_leaves_previous_state_and_valid_checkpoint(
    digits_split, uninterrupted, tmp_path, ctrl_c_raises
):
    Xs, ys, Xt, _ = digits_split
    model = SupremeClusterer(
        **PARAMS, checkpoint_dir=tmp_path, callbacks=[CtrlCAt("clustering", 3)]
    )
    # skorch alone would swallow Ctrl-C and return a half-trained net as fitted
    with pytest.raises(KeyboardInterrupt):
        model.fit(Xt, source=(Xs, ys))
    with pytest.raises(NotFittedError):
        check_is_fitted(model)
    assert load_checkpoint(_only_checkpoint(tmp_path))["epoch"] == 2
    assert not list(tmp_path.glob("*.tmp"))


def test_ctrl_c_in_pretraining_is_not_taken_for_a_stop(digits_split, ctrl_c_raises):
    Xs, ys, Xt, _ = digits_split
    model = SupremeClusterer(**PARAMS, callbacks=[CtrlCAt("source", 2)])
    with pytest.raises(KeyboardInterrupt, match="Source pretraining interrupted during epoch 2"):
        model.fit(Xt, source=(Xs, ys))
    with pytest.raises(NotFittedError):
        check_is_fitted(model)


def test_ctrl_c_in_a_probe_draws_pretraining_interrupts_the_estimate(
    digits_split, ctrl_c_raises
):
    # estimate_n_clusters(estimator=...) pretrains once per draw, outside any fit:
    # Ctrl-C there is an interrupt too, not a stop that leaves a half-trained network.
    Xs, ys, Xt, _ = digits_split
    estimator = SupremeClusterer(**PARAMS, callbacks=[CtrlCAt("source", 1)])
    with pytest.raises(KeyboardInterrupt, match="Source pretraining interrupted during epoch 1"):
        estimate_n_clusters(Xt, Xs, ys, estimator=estimator, n_draws=1, random_state=0)
    with pytest.raises(NotFittedError):
        check_is_fitted(estimator)


def test_skorch_early_stopping_ends_each_phase_and_the_fit_completes(digits_split):
    Xs, ys, Xt, _ = digits_split
    # No epoch improves the loss by 1000 %: each phase stops after its second epoch.
    stop = EarlyStopping(monitor="train_loss", patience=1, threshold=10.0)
    params = {**PARAMS, "max_epochs": 6}
    model = SupremeClusterer(**params, callbacks=[stop]).fit(Xt, source=(Xs, ys))
    assert len(model.pretrain_history_["loss"]) == 2 and model.n_iter_ == 2
    np.testing.assert_array_equal(model.predict(Xt), model.labels_)
    # The same as a fit whose phases last two epochs: the stop changes nothing else.
    short = SupremeClusterer(**{**params, "pretrain_epochs": 2, "max_epochs": 2}).fit(
        Xt, source=(Xs, ys)
    )
    np.testing.assert_array_equal(model.labels_, short.labels_)


@pytest.mark.parametrize(
    "callback", [EarlyStopping(), ("stop", EarlyStopping(monitor="valid_acc")), EarlyStopping]
)
def test_a_callback_monitoring_a_validation_score_is_refused(digits_split, callback):
    # skorch's EarlyStopping monitors valid_loss by default; there is no validation split.
    Xs, ys, Xt, _ = digits_split
    model = SupremeClusterer(**PARAMS, callbacks=[callback])
    with pytest.raises(ValueError, match=r"callbacks: EarlyStopping monitors 'valid_(loss|acc)', "
                       r"but SupremeClusterer trains without a validation split"):
        model.fit(Xt, source=(Xs, ys))
    with pytest.raises(NotFittedError):
        check_is_fitted(model)


@pytest.mark.parametrize("kind", [EpochScoring, BatchScoring])
def test_a_scorer_callback_without_labels_to_score_is_refused(digits_split, kind):
    # skorch scores net.predict against y on the training data: logits against the
    # source labels, then against the initial soft assignment. It failed after the first
    # epoch with scikit-learn's "mix of multiclass and continuous-multioutput targets".
    Xs, ys, Xt, _ = digits_split
    model = SupremeClusterer(**PARAMS, callbacks=[kind("accuracy", on_train=True)])
    message = (rf"callbacks: {kind.__name__}\(scoring='accuracy', on_train=True\) scores.*"
               r"a callable scoring\(net, X, y\)")
    with pytest.raises(ValueError, match=message):
        model.fit(Xt, source=(Xs, ys))
    with pytest.raises(NotFittedError):
        check_is_fitted(model)
    # A callable reads what it wants; a scorer off the training data never runs.
    scored = kind(lambda net, X, y: float(len(X)), on_train=True, name="rows")
    fitted = SupremeClusterer(**PARAMS, callbacks=[scored, kind("accuracy")]).fit(
        Xt, source=(Xs, ys)
    )
    assert fitted.net_.history[-1, "rows"] > 0


def test_a_resume_trains_no_more_of_a_phase_a_callback_ended(digits_split, tmp_path):
    Xs, ys, Xt, _ = digits_split
    params = {**PARAMS, "checkpoint_dir": tmp_path, "checkpoint_every": 10}
    stopped = [StopAt("source", 2)]
    reference = SupremeClusterer(**{**params, "checkpoint_dir": None}, callbacks=stopped)
    reference.fit(Xt, source=(Xs, ys))
    with pytest.raises(RuntimeError, match="injected failure"):
        SupremeClusterer(**params, callbacks=[*stopped, FailAt("clustering", 2)]).fit(
            Xt, source=(Xs, ys)
        )
    state = load_checkpoint(_only_checkpoint(tmp_path))
    assert (state["phase"], state["epoch"], state["ended"]) == ("pretrain", 2, True)
    counter = CountEpochs()
    resumed = SupremeClusterer(**params, callbacks=[counter]).fit(Xt, source=(Xs, ys))
    assert counter.epochs == [SupremeNet.phase] * PARAMS["max_epochs"]  # no pretraining again
    assert len(resumed.pretrain_history_["loss"]) == 2
    np.testing.assert_array_equal(resumed.labels_, reference.labels_)


@pytest.mark.parametrize("load_best", [False, True])
def test_a_resume_gives_callbacks_back_their_state(digits_split, tmp_path, load_best):
    # skorch's callbacks reset their state when training begins: a resumed fit's
    # EarlyStopping counted its epochs without improvement afresh, and stopped later.
    Xs, ys, Xt, _ = digits_split
    params = {**PARAMS, "max_epochs": 6}

    def stop():  # the first epoch improves on nothing, no other by 10: a stop after 3
        return EarlyStopping(
            monitor="train_loss", patience=2, threshold=10.0, threshold_mode="abs",
            load_best=load_best,
        )

    reference = SupremeClusterer(**params, callbacks=[stop()]).fit(Xt, source=(Xs, ys))
    assert reference.n_iter_ == 3
    with pytest.raises(RuntimeError, match="injected failure"):  # before the stop's count
        SupremeClusterer(
            **params, checkpoint_dir=tmp_path, callbacks=[FailAt("clustering", 3), stop()]
        ).fit(Xt, source=(Xs, ys))
    state = load_checkpoint(_only_checkpoint(tmp_path))
    assert state["epoch"] == 2 and state["callbacks"]["EarlyStopping"]["misses_"] == 1
    resumed_stop = stop()
    resumed = SupremeClusterer(**params, checkpoint_dir=tmp_path, callbacks=[resumed_stop])
    resumed.fit(Xt, source=(Xs, ys))
    # Counted afresh, the first epoch resumed would improve on nothing: a stop at 5.
    assert resumed.n_iter_ == 3 and resumed_stop.misses_ == 2
    np.testing.assert_array_equal(resumed.labels_, reference.labels_)
    np.testing.assert_allclose(resumed.predict_proba(Xt), reference.predict_proba(Xt), atol=1e-6)


def test_a_callback_with_state_a_checkpoint_cannot_hold_starts_afresh(digits_split, tmp_path):
    # All or nothing: half of a scheduler's state put back would be inconsistent.
    class Holder(Callback):
        def on_train_begin(self, net, **kwargs):
            self.epochs_, self.scheduler_ = 0, object()

        def on_epoch_end(self, net, **kwargs):
            self.epochs_ += 1

    class Plain(Holder):
        def on_train_begin(self, net, **kwargs):
            self.epochs_ = 0

    Xs, ys, Xt, _ = digits_split
    with pytest.raises(RuntimeError, match="injected failure"):
        SupremeClusterer(
            **PARAMS, checkpoint_dir=tmp_path,
            callbacks=[FailAt("clustering", 3), ("holder", Holder()), ("plain", Plain())],
        ).fit(Xt, source=(Xs, ys))
    assert load_checkpoint(_only_checkpoint(tmp_path))["callbacks"]["plain"] == {"epochs_": 2}
    holder, plain = Holder(), Plain()
    SupremeClusterer(
        **PARAMS, checkpoint_dir=tmp_path, callbacks=[("holder", holder), ("plain", plain)]
    ).fit(Xt, source=(Xs, ys))
    # Resumed after epoch 2 of 4: the plain count goes on, the other counts afresh.
    assert plain.epochs_ == PARAMS["max_epochs"] and holder.epochs_ == PARAMS["max_epochs"] - 2


class StopAtBegin(FailAt):
    """Ends a phase when epoch ``epoch`` begins, before any of its steps (a time budget)."""

    def __init__(self, phase, epoch):
        super().__init__(phase, epoch, KeyboardInterrupt)

    def on_epoch_begin(self, net, **kwargs):
        if net.phase.lower().startswith(self.phase) and len(net.history) == self.epoch:
            raise KeyboardInterrupt

    def on_epoch_end(self, net, **kwargs):
        pass


def test_an_epoch_a_callback_ends_before_its_first_step_is_not_counted(digits_split, tmp_path):
    Xs, ys, Xt, _ = digits_split
    params = {**PARAMS, "checkpoint_dir": tmp_path}
    model = SupremeClusterer(**params, callbacks=[StopAtBegin("clustering", 3)])
    model.fit(Xt, source=(Xs, ys))
    # skorch leaves the row of the epoch that never ran: it was counted in n_iter_, and a
    # second identical warm start failed with KeyError 'train_loss' reading it back.
    assert model.n_iter_ == 2 == len(model.history_["loss"])
    assert load_checkpoint(_only_checkpoint(tmp_path))["epoch"] == 2
    model.set_params(warm_start=True, callbacks=None)
    first, second = (copy.deepcopy(model).fit(Xt, source=(Xs, ys)) for _ in range(2))
    assert first.n_iter_ == second.n_iter_ == 2 + PARAMS["max_epochs"]
    np.testing.assert_array_equal(first.labels_, second.labels_)


def test_a_sigint_handler_that_does_not_interrupt_leaves_a_stop_a_stop(digits_split):
    # A graceful-shutdown handler only records the signal: the KeyboardInterrupt that
    # follows is a callback's stop, and the fit completes (it used to be taken for Ctrl-C).
    Xs, ys, Xt, _ = digits_split
    received = []

    class SignalThenStop(FailAt):
        def on_epoch_end(self, net, **kwargs):
            if net.phase.lower().startswith(self.phase) and len(net.history) == self.epoch:
                signal.raise_signal(signal.SIGINT)
                raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        model = SupremeClusterer(**PARAMS, callbacks=[SignalThenStop("clustering", 2)])
        model.fit(Xt, source=(Xs, ys))
    except KeyboardInterrupt as exc:  # caught: it would end the whole test run
        pytest.fail(f"the stop was taken for Ctrl-C: {exc}")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert received == [signal.SIGINT] and model.n_iter_ == 2


@pytest.mark.parametrize(
    "damage", [b"", b"not a checkpoint", None], ids=["empty", "garbage", "cut"]
)
def test_an_unreadable_checkpoint_is_named(digits_split, tmp_path, damage):
    Xs, ys, Xt, _ = digits_split
    params = {**PARAMS, "checkpoint_dir": tmp_path}
    with pytest.raises(RuntimeError, match="injected failure"):
        SupremeClusterer(**params, callbacks=[FailAt("clustering", 2)]).fit(Xt, source=(Xs, ys))
    path = _only_checkpoint(tmp_path)
    path.write_bytes(path.read_bytes()[:100] if damage is None else damage)
    model = SupremeClusterer(**params)
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))} cannot be read as a "
                                         r"checkpoint \(\w+\).*Remove the file to fit anew"):
        model.fit(Xt, source=(Xs, ys))
    with pytest.raises(NotFittedError):
        check_is_fitted(model)


def test_user_callbacks_may_take_any_name(digits_split, tmp_path):
    # The package's own callbacks are named so that no user's collides with them
    # (skorch refuses two callbacks of one name).
    Xs, ys, Xt, _ = digits_split
    counter = CountEpochs()
    SupremeClusterer(
        **PARAMS, checkpoint_dir=tmp_path, pretrain_lr_schedule="cosine",
        callbacks=[("checkpoint", counter), ("lr_schedule", CountEpochs())],
    ).fit(Xt, source=(Xs, ys))
    assert len(counter.epochs) == PARAMS["pretrain_epochs"] + PARAMS["max_epochs"]


def test_warm_start_continues_training(digits_split):
    Xs, ys, Xt, _ = digits_split
    model = SupremeClusterer(**{**PARAMS, "max_epochs": 2}).fit(Xt, source=(Xs, ys))
    first_losses = list(model.history_["loss"])
    initial = model.initial_proba_.copy()
    before = {k: v.clone() for k, v in model.net_.module_.state_dict().items()}
    model.set_params(warm_start=True, max_epochs=3)
    model.fit(Xt, source=(Xs, ys))
    assert model.n_iter_ == 5
    assert model.history_["loss"][:2] == first_losses
    np.testing.assert_array_equal(model.initial_proba_, initial)
    after = model.net_.module_.state_dict()
    assert not torch.equal(before["target_head.weight"], after["target_head.weight"])
    np.testing.assert_array_equal(model.predict(Xt), model.labels_)


def test_warm_start_of_an_unfitted_estimator_is_a_fresh_fit(digits_split):
    Xs, ys, Xt, _ = digits_split
    params = {**PARAMS, "max_epochs": 2}
    warm = SupremeClusterer(**params, warm_start=True).fit(Xt, source=(Xs, ys))
    fresh = SupremeClusterer(**params).fit(Xt, source=(Xs, ys))
    assert warm.n_iter_ == 2 and len(warm.pretrain_history_["loss"]) == PARAMS["pretrain_epochs"]
    np.testing.assert_array_equal(warm.labels_, fresh.labels_)
    assert _states_equal(warm, fresh)


def test_warm_start_needs_same_data_and_network(digits_split):
    Xs, ys, Xt, _ = digits_split
    model = SupremeClusterer(**{**PARAMS, "max_epochs": 1}).fit(Xt, source=(Xs, ys))
    labels, state = model.labels_.copy(), dict(vars(model))
    model.set_params(warm_start=True)
    other_target = Xt[::-1]  # same length and shape: only the data tells them apart
    for data in [(Xt[:100], (Xs, ys)), (other_target, (Xs, ys)), (Xt, (Xs[:-1], ys[:-1])),
                 (Xt, (Xs, (ys + 1) % 5)), (Xt[:, :32], (Xs[:, :32], ys))]:
        with pytest.raises(ValueError, match="same data"):
            model.fit(data[0], source=data[1])
    # what shapes the fitted network or its initial clusters cannot change
    for change, named in [(dict(n_factors=4), "n_factors=4 \\(was 64\\)"),
                          (dict(n_clusters=3), "n_clusters=3 \\(was 5\\)"),
                          (dict(standardize=False), "standardize=False"),
                          (dict(backbone_params={"hidden_layer_sizes": (8,)}), "backbone_params"),
                          (dict(backbone="cnn"), "backbone='cnn' \\(was 'auto'\\)"),
                          (dict(alpha=2.0), "alpha=2.0 \\(was 1.0\\)"),
                          (dict(init_pca=False), "init_pca=False \\(was True\\)")]:
        with pytest.raises(ValueError, match=f"warm_start=True continues .* changes {named}"):
            model.set_params(**change).fit(Xt, source=(Xs, ys))
        model.set_params(**{name: state[name] for name in change})
    assert vars(model).keys() == state.keys()
    np.testing.assert_array_equal(model.labels_, labels)
    # the clustering phase's parameters can change, and "auto" keeps the fitted clusters
    model.set_params(tau=0.5, balance_weight=1.0, n_clusters="auto").fit(Xt, source=(Xs, ys))
    assert model.n_clusters_ == 5 and model.n_iter_ == 2


def test_warm_start_failure_keeps_previous_model(digits_split):
    Xs, ys, Xt, _ = digits_split
    model = SupremeClusterer(**{**PARAMS, "max_epochs": 1}).fit(Xt, source=(Xs, ys))
    before = {k: v.clone() for k, v in model.net_.module_.state_dict().items()}
    model.set_params(warm_start=True, max_epochs=3, callbacks=[FailAt("clustering", 2)])
    with pytest.raises(RuntimeError, match="injected"):
        model.fit(Xt, source=(Xs, ys))
    # the failed continuation trained a copy: the fitted network is untouched
    after = model.net_.module_.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert model.n_iter_ == 1


@pytest.mark.parametrize("freeze", [None, "backbone.*"])
def test_warm_start_checkpoints_its_own_continuation_and_resumes_it(digits_split, tmp_path, freeze):
    Xs, ys, Xt, _ = digits_split
    first = {**PARAMS, "max_epochs": 2, "freeze": freeze}
    reference = SupremeClusterer(**first).fit(Xt, source=(Xs, ys))
    reference.set_params(warm_start=True, max_epochs=3).fit(Xt, source=(Xs, ys))

    model = SupremeClusterer(**first, checkpoint_dir=tmp_path).fit(Xt, source=(Xs, ys))
    fresh = _only_checkpoint(tmp_path)
    model.set_params(warm_start=True, max_epochs=3, callbacks=[FailAt("clustering", 4)])
    with pytest.raises(RuntimeError, match="injected"):
        model.fit(Xt, source=(Xs, ys))
    (warm,) = set(_checkpoints(tmp_path)) - {fresh}
    assert load_checkpoint(fresh)["epoch"] == 2  # the fresh fit's file is untouched
    assert load_checkpoint(warm)["epoch"] == 3

    # The estimator is lost, as in a crash: another process reads the first fit back,
    # and the same warm start resumes the continuation, training only what it lacked.
    counter = CountEpochs()
    revived = SupremeClusterer(**first, checkpoint_dir=tmp_path).fit(Xt, source=(Xs, ys))
    revived.set_params(warm_start=True, max_epochs=3, callbacks=[counter])
    revived.fit(Xt, source=(Xs, ys))
    assert len(counter.epochs) == 2 and revived.n_iter_ == 5
    np.testing.assert_array_equal(revived.labels_, reference.labels_)
    np.testing.assert_allclose(revived.history_["loss"], reference.history_["loss"], rtol=1e-5)
    assert _states_equal(revived, reference)  # frozen weights included

    # the same warm start from the new state is another continuation, with a file of its own
    counter.epochs.clear()
    revived.fit(Xt, source=(Xs, ys))
    assert len(counter.epochs) == 3 and revived.n_iter_ == 8
    assert len(_checkpoints(tmp_path)) == 3


def test_finished_warm_start_checkpoint_reads_the_continuation_back(digits_split, tmp_path):
    # A warm start that ran to its end, repeated from the same fitted state (read back
    # in another process), has all of its epochs done: it trains none and reads back
    # the continuation, as a refit of a fresh fit's finished checkpoint does.
    Xs, ys, Xt, _ = digits_split
    first = {**PARAMS, "max_epochs": 2, "checkpoint_dir": tmp_path}
    model = SupremeClusterer(**first).fit(Xt, source=(Xs, ys))
    model.set_params(warm_start=True, max_epochs=3).fit(Xt, source=(Xs, ys))
    assert len(_checkpoints(tmp_path)) == 2
    counter = CountEpochs()
    revived = SupremeClusterer(**first).fit(Xt, source=(Xs, ys))
    revived.set_params(warm_start=True, max_epochs=3, callbacks=[counter])
    revived.fit(Xt, source=(Xs, ys))
    assert counter.epochs == [] and revived.n_iter_ == 2 + 3
    np.testing.assert_array_equal(revived.labels_, model.labels_)
    assert _states_equal(revived, model)


def test_warm_start_refuses_a_checkpoint_that_does_not_continue_it(digits_split, tmp_path):
    Xs, ys, Xt, _ = digits_split
    model = SupremeClusterer(**{**PARAMS, "max_epochs": 1}, checkpoint_dir=tmp_path)
    model.fit(Xt, source=(Xs, ys))
    fresh = _only_checkpoint(tmp_path)
    model.set_params(warm_start=True, max_epochs=2, callbacks=[FailAt("clustering", 3)])
    with pytest.raises(RuntimeError, match="injected"):
        model.fit(Xt, source=(Xs, ys))
    (warm,) = set(_checkpoints(tmp_path)) - {fresh}
    state = load_checkpoint(warm)
    state["history"][0]["train_loss"] += 1.0  # its first epoch is not this model's
    torch.save(state, warm)
    with pytest.raises(ValueError, match="does not continue this fitted model"):
        model.set_params(callbacks=None).fit(Xt, source=(Xs, ys))
    assert model.n_iter_ == 1


def test_out_of_memory_names_batch_size(digits_split):
    Xs, ys, Xt, _ = digits_split
    # stands in for a CUDA allocation failure during the clustering phase
    model = SupremeClusterer(**PARAMS, callbacks=[FailAt("clustering", 1, torch.cuda.OutOfMemoryError)])
    with pytest.raises(MemoryError, match="lower batch_size"):
        model.fit(Xt, source=(Xs, ys))
    with pytest.raises(NotFittedError):
        check_is_fitted(model)
