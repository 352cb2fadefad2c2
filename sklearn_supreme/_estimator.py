"""SupremeClusterer: the scikit-learn face of SUPREME transfer clustering."""

import contextlib
import contextvars
import copy
import inspect
import os
import threading
import uuid
import warnings
from numbers import Integral, Real

import joblib
import numpy as np
import torch
from scipy.special import softmax
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    HasMethods, Interval, InvalidParameterError, StrOptions,
)
from sklearn.utils.validation import (
    check_is_fitted,
    check_memory,
    validate_data,
)
from skorch.callbacks import BatchScoring, EpochScoring
from torch import nn

from ._atomic import folder_problem
from ._augment import ImagePerturbation, VectorPerturbation, resolve_augment
from ._checkpoint import (
    TrainingCheckpoint, checkpoint_file, cuda_index, load_checkpoint, restore, rng_state,
    set_rng_state,
)
from ._inference import _adapted_target_logits, _as_tensor, _embed, _forward_batches
from ._initial import initial_assignment
from ._input import (
    _as_network_input, _check_named_array, _check_source_columns, _check_source_labels,
    _check_y_is_not_the_source, _describe, _flag_set, _input_statistics,
    _integer_images_as_uint8,
    _source_pair, _user_stacklevel,
)
from ._networks import InputAdapter, SupremeNetwork, feature_dim_of, make_backbone
from ._training import (
    LOSS_TERMS, CosineAnnealing, SourcePretrainNet, SupremeNet, TrainingInterrupted, frozen,
    match_frozen, resolve_precision,
)

__all__ = ["SupremeClusterer"]

#: Parameters of the clustering phase alone: the start of a fit (pretraining and
#: initial assignment) does not depend on them, so ``memory`` reuses it across them.
_CLUSTERING_PARAMS = frozenset({
    "tau", "self_weight", "pair_weight", "balance_weight", "factor_weight", "source_weight",
    "pair_weighting", "max_epochs", "source_batch_size", "freeze",
})

#: Parameters a warm start cannot change: they shape the fitted network (its input
#: statistics included) and the initial assignments it continues from.
_WARM_START_FIXED = (
    "n_clusters", "n_factors", "backbone", "backbone_params", "alpha", "init_pca", "standardize",
)

#: Names of the package's own callbacks in the nets: names no user's callback takes
#: (skorch refuses two callbacks of one name).
_CHECKPOINT_CALLBACK = "sklearn_supreme.checkpoint"
_SCHEDULE_CALLBACK = "sklearn_supreme.pretrain_lr_schedule"

#: Parameters that change how a fit runs, not the model it reaches.
_RUN_PARAMS = frozenset({
    "verbose", "device", "compile", "checkpoint_dir", "checkpoint_every", "callbacks",
    "warm_start", "memory",
})


class SupremeClusterer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, ClusterMixin, BaseEstimator):
    """Transfer clustering with a self-supervised remedy (SUPREME).

    Clusters unlabelled *target* samples of novel classes into ``n_clusters`` groups,
    using labelled *source* samples of other classes as prior knowledge (Huang &
    Gong). ``fit``:

    1. pretrains the network on the source labels (cross-entropy, Eq. 8);
    2. clusters the target's pretrained features with K-means (after PCA to
       ``n_clusters`` dimensions) and turns the result into soft assignments
       ``p~`` (Student-t, Eq. 1);
    3. trains the target head on soft pairwise constraints ``r~ = p~_i . p~_j``
       (Eq. 2), each pair weighted by its confidence (joint entropy with
       temperature ``tau``, Eq. 4), with every sample also paired with a random
       perturbation of itself (the self-supervised remedy), under balance (Eq. 6),
       factor-binarity (Eq. 7) and source cross-entropy (Eq. 8) regularisers.

    Without ``source`` there is nothing to transfer: no pretraining and no source
    term; the pairs then come from K-means on the (standardised) input itself and
    the self-supervised term carries the training.

    The network is trained through skorch, on CUDA when available.

    Parameters
    ----------
    n_clusters : int or "auto", default=8
        Number of target clusters K. ``"auto"`` estimates it from the source with
        probe classes (:func:`~sklearn_supreme.model_selection.estimate_n_clusters`
        on the input itself, candidates 2-20, with ``criterion="accuracy_silhouette"``
        for feature vectors and ``"probe_cut"`` for images; needs ``source`` with at
        least 3 classes, and warns for images with fewer than 4); the value used is
        ``n_clusters_``, and the estimation's terms are ``n_clusters_estimation_``.
        For an estimate from learned features, call ``estimate_n_clusters`` with
        ``estimator=`` and pass the result.
    tau : float, default=1.0
        Temperature of the pair confidences (Eq. 4): small values put the weight of
        the transferred pairs on the most confident ones. On digits (6 seeds,
        ``benchmarks/digits_settings.py``, 2026-11-29) 1.0, 0.5 and 0.1 gave ACC
        0.881, 0.877 and 0.876; the paper's best values differ between datasets, so
        choose it with :class:`~sklearn_supreme.model_selection.SupremeClustererCV`.
    alpha : float, default=1.0
        Degrees of freedom of the Student-t kernel of the initial assignment (Eq. 1).
    n_factors : int, default=64
        Dimension D of the factor space ``x^a`` (Eq. 7), which ``transform`` returns.
    self_weight : float, default=1.0
        Weight of the self-supervised term (each sample with its own perturbation).
    pair_weight : float, default=1.0
        Weight of the transferred pair term (Eq. 5 over the pairs i != j).
    balance_weight : float, default=3.0
        Weight of the balance regulariser on cluster sizes (Eq. 6). The pair and
        self-supervised terms are both smallest when every sample falls in one
        cluster; with weight 1 fits collapsed on blobs and digits, 3-5 did not.
    factor_weight : float, default=0.1
        Weight of the binary regulariser of the factor space (Eq. 7).
    source_weight : float, default=1.0
        Weight of the source cross-entropy kept during clustering (Eq. 8). Ignored
        without ``source``.
    pair_weighting : {"separate", "literal"}, default="separate"
        ``"separate"``: the self-supervised diagonal is its own mean and the
        transferred pairs are normalised over the off-diagonal pairs (what the
        package measured to work). ``"literal"``: Eq. 5 as printed, the diagonal
        normalised together with all ``n^2`` pairs (an ablation; ``self_weight`` is
        then unused).
    backbone : {"auto", "mlp", "cnn", "resnet18"} or torch.nn.Module class or instance, \
            default="auto"
        Feature extractor ``f_theta``. ``"auto"`` is ``"mlp"`` for feature vectors
        and ``"cnn"`` (a small CNN) for images; ``"resnet18"`` is the CIFAR ResNet-18
        (3x3 stem, no max-pool). A module class is built with ``backbone_params``;
        an instance is copied, never changed. It must map a standardised batch to
        ``(N, D)`` features. Give an instance already trained on the source together
        with ``pretrain_epochs=0`` to skip pretraining.
    backbone_params : dict, default=None
        Keyword arguments of the backbone's constructor: ``hidden_layer_sizes``
        (default ``(512,)``) of ``"mlp"``, ``width`` (default 32) of ``"cnn"``;
        ``"resnet18"`` takes none.
    pretrain_epochs : int, default=20
        Epochs of supervised source pretraining; 0 skips it.
    pretrain_lr_schedule : {"constant", "cosine"}, default="constant"
        Learning rate of the pretraining steps: ``lr`` throughout, or annealed from
        ``lr`` to 0 along a cosine over the ``pretrain_epochs`` (step by step; a fit
        resumed from a checkpoint continues it). The clustering phase always runs at
        ``lr``, as the paper trains.
    max_epochs : int, default=100
        Epochs of the clustering phase. An epoch is about ``n_samples / batch_size``
        steps, so the phase's time grows with the target; a skorch
        ``EarlyStopping`` in ``callbacks`` can end it sooner.
    batch_size : int, default=64
        Target samples per step; each step also uses as many perturbed copies and
        (unless ``source_batch_size`` says otherwise) source samples.
    source_batch_size : int, default=None
        Source samples drawn at random for each clustering step's source term
        (Eq. 8); None: ``batch_size``. The source batch is a third of each step's
        images at the default, so a smaller one makes steps cheaper, at the cost of a
        noisier source term.
    freeze : str or list of str, default=None
        Parameters of the network held fixed during the clustering phase (not during
        pretraining), as :func:`fnmatch.fnmatch` patterns of the names in
        ``net_.module_.named_parameters()``: ``"backbone.*"`` trains only the factor
        layer and the heads; for ``backbone="resnet18"``,
        ``["backbone.stem.*", "backbone.blocks.[0-5].*"]`` trains only the last of its
        four stages (``blocks.6`` and ``blocks.7``), the factor layer and the
        heads, as RankStats
        (Han et al., 2020) fine-tunes. No backward pass runs through a frozen stem
        of the network, so steps are cheaper; batch norm statistics still adapt.
        A pattern that matches nothing, or patterns that match every parameter,
        are errors. None trains everything.
    lr : float, default=1e-3
        Adam learning rate of both phases.
    augment : "auto" or callable, default="auto"
        The perturbation ``g``. ``"auto"``: random rescale, translation and flip for
        images, Gaussian noise and feature dropout for vectors
        (:class:`~sklearn_supreme.ImagePerturbation`,
        :class:`~sklearn_supreme.VectorPerturbation`). A callable receives a
        standardised float batch on the training device and returns a batch of the
        same shape. It also perturbs the source batches of the pretraining, as data
        augmentation, so it shapes the pretrained network too.
    init_pca : bool, default=True
        Project the features to ``n_clusters`` dimensions with PCA before the
        initial K-means, as DTC does.
    standardize : bool, default=True
        Centre and scale the input with statistics of the fitting data: for feature
        vectors, the mean of each feature and one common scale (the root mean square
        of the feature stds, so distances keep their geometry); for images, the mean
        and std of each channel. uint8 images are always scaled to [0, 1] first.
        Source and target are standardised together: if either spreads over less
        than a tenth of their joint scale (an offset between them, other units),
        ``fit`` warns, as the perturbation's noise can then swamp the target's
        clusters.
    device : str, default="auto"
        Torch device; ``"auto"`` is ``"cuda"`` when available, else ``"cpu"``.
        On CUDA, training runs with cuDNN autotuning, and image networks in
        channels-last layout.
    precision : {"auto", "float32", "bfloat16"}, default="auto"
        What training and prediction compute in. ``"bfloat16"`` runs them under
        :class:`torch.autocast` to bf16 (parameters and optimiser stay float32;
        the features of the initial K-means and the batch-norm statistics that
        ``labels_`` is predicted with are computed in float32); ``"float32"``
        without autocast. ``"auto"`` is bf16 on CUDA GPUs that compute it natively
        (compute capability 8.0 and newer: A100, H100, RTX 30 and later) and
        float32 elsewhere: on the CPU, and on older GPUs (a T4, a V100), which
        emulate bf16. Prediction resolves it again for the device of the fitted
        model. On CPUs with native bf16 instructions (AVX-512 BF16, AMX),
        ``"bfloat16"`` trains faster at the same accuracy (the benchmarks page
        measures it on a CPU proxy of CIFAR-10); on others it emulates bf16.
    compile : bool or dict, default=False
        Compile the training forward pass (backbone and factor space) with
        :func:`torch.compile`; a dict gives its keyword arguments (default
        ``{"dynamic": False}``: one static graph per batch shape, two in a
        default fit (``batch_size`` rows in pretraining and in the source pass,
        ``2 * batch_size`` in the target and perturbed pass), more with a
        ``source_batch_size`` of its own or with ``freeze``, whose change of
        ``requires_grad`` makes torch recompile). Compiling takes tens of seconds
        at the start of each phase, so it pays only on long fits on a GPU;
        ``python -m sklearn_supreme benchmark`` measures it. Prediction is not
        compiled.
    checkpoint_dir : str or path-like, default=None
        Directory where the whole training state (network, optimiser, epoch, initial
        assignments, random generator states) is written every ``checkpoint_every``
        epochs of both phases, atomically, to a file named by a hash of the
        parameters and data (``supreme_checkpoint_<hash>.pt``), so the fits of a
        search can share the directory. A later ``fit`` with the same parameters and
        data resumes from its file, with the interrupted fit's seed (so also with
        ``random_state=None`` and ``n_clusters="auto"``), and reaches the same model
        as an uninterrupted fit (on the CPU); once the fit has ended, it reads the
        model back. So with ``random_state=None`` (or a ``RandomState``), repeated
        fits there return the first one's model rather than new draws (with a
        warning); such fits running at the same time (a search's parallel jobs)
        share one file, which ends up holding the last to save. A warm start
        writes a file of its own, keyed also on the fit it continues, which the same
        warm start from that fit (read back in another process too) resumes.
        ``callbacks`` are not part of the hash: ones that change the training (a
        learning-rate schedule) must be the same on resuming. Their fitted state
        (attributes ending in ``_``, such as an ``EarlyStopping``'s count of epochs
        without improvement and best weights) is saved and put back on resuming
        when it is plain values and tensors (so a resumed ``EarlyStopping`` needs
        the same ``patience``); a callback holding other objects
        (skorch's ``LRScheduler``, with its torch scheduler) starts afresh. A
        module instance as ``backbone`` is hashed by its class and attributes,
        tensors by their values, the same in every process. Nothing removes the files. The
        parameters must pickle, as for ``memory``. The directory is created if
        needed; ``fit`` checks that it accepts files before it trains.
    checkpoint_every : int, default=1
        Epochs between checkpoints; the end of each phase is always saved.
    warm_start : bool, default=False
        When fitted already, ``fit`` continues the clustering phase for
        ``max_epochs`` more epochs from the current network and initial
        assignments, instead of starting over. It needs the same data (target and
        source) and the same parameters that shape the network and its initial
        clusters (``n_clusters``, ``n_factors``, ``backbone``, ``backbone_params``,
        ``alpha``, ``init_pca``, ``standardize``); otherwise it raises a
        ``ValueError`` naming what changed. The clustering phase's parameters
        (``tau``, the loss weights, ``lr``, ``freeze``...) can change. Those of
        the pretraining alone (``pretrain_epochs``, ``pretrain_lr_schedule``) have
        no effect: nothing is pretrained again, and ``pretrain_history_`` stays
        that of the first fit.
    callbacks : list of skorch callbacks, default=None
        Extra :mod:`skorch.callbacks` added to the nets of both phases (their
        ``phase`` attribute says which is running). A callback that ends training
        by raising ``KeyboardInterrupt``, as
        :class:`~skorch.callbacks.EarlyStopping` does, ends that phase and the fit
        goes on (a checkpoint records the phase as over); Ctrl-C interrupts the fit
        and leaves the estimator as it was. There is no validation split: a
        callback must monitor ``"train_loss"`` (skorch's defaults monitor
        ``"valid_loss"``, which ``fit`` refuses). Neither phase has labels that a
        scikit-learn scorer reads, so :class:`~skorch.callbacks.EpochScoring` and
        :class:`~skorch.callbacks.BatchScoring` with ``on_train=True`` need a
        callable ``scoring(net, X, y)``; a string one is refused. As in skorch,
        the instances given are the ones trained with: each phase initialises them,
        so after ``fit`` they hold the clustering phase's state (an
        ``EarlyStopping``'s best epoch...); :func:`~sklearn.base.clone`, as every
        search does, gives each fit its own copies.
    memory : str, joblib.Memory or None, default=None
        Caches the *start* of a fit with joblib, as :class:`~sklearn.pipeline.Pipeline`
        caches its transformers: the source pretraining, the initial K-means and
        the network they leave, keyed on the data, the drawn seed, the device, the
        resolved ``precision`` and every parameter but those of the clustering
        phase alone (``tau``, the five loss weights, ``pair_weighting``,
        ``max_epochs``, ``source_batch_size``, ``freeze``) and those that do not
        change the result (``verbose``, ``compile``...). ``callbacks`` are not part
        of the key either: ones that change the pretraining (a learning-rate
        schedule) must be the same in fits that share a cache. Fits that
        differ only in the clustering phase, such as a search over ``tau`` with an integer
        ``random_state``, then pretrain once, and reach the same model as without
        the cache (on the CPU). A string is the cache directory. The parameters must
        pickle (joblib hashes them): a lambda ``augment`` raises a ``ValueError``.
        Callbacks see no
        pretraining epochs when the start comes from the cache; a fit that resumes
        from a checkpoint does not use it.
    random_state : int, RandomState instance or None, default=None
        Seeds network initialisation, K-means, batches and perturbations. On the CPU,
        with the same number of torch threads (:func:`torch.get_num_threads`), the
        same seed gives the same ``labels_``; on a GPU, cuDNN's autotuned kernels and
        atomic additions let repeated fits differ slightly.
    verbose : int, default=0
        Print a line per epoch of both phases, each table under its phase's title.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training sample (``predict`` of the fitted model on ``X``),
        after the network's batch-norm statistics are re-estimated on ``X`` alone
        (training leaves statistics that mix target, perturbed and source batches;
        prediction uses the re-estimated ones). If some of the ``n_clusters_`` clusters get no sample, ``fit`` warns with a
        :class:`~sklearn.exceptions.ConvergenceWarning`.
    n_clusters_ : int
        Number of clusters fitted: ``n_clusters``, or its estimate for ``"auto"``.
    n_clusters_estimation_ : Bunch or None
        With ``n_clusters="auto"``, the ``results`` of
        :func:`~sklearn_supreme.model_selection.estimate_n_clusters` (the candidates,
        the terms of each probe draw and each criterion's estimate), to judge how
        clear-cut the estimate was; None for an int ``n_clusters``.
    initial_labels_ : ndarray of shape (n_samples,)
        The initial K-means assignment.
    initial_proba_ : ndarray of shape (n_samples, n_clusters)
        The soft initial assignment ``p~`` (Eq. 1).
    source_classes_ : ndarray or None
        Classes of ``y_source``; None when fitted without source.
    history_ : dict of str to list of float
        Per clustering epoch: ``"loss"`` (the objective) and the unweighted mean of
        each term, ``"self"``, ``"pair"``, ``"balance"``, ``"factor"``, ``"source"``,
        and ``"dur"`` (seconds).
    pretrain_history_ : dict of str to list of float
        Per pretraining epoch: ``"loss"`` and ``"dur"``; empty lists when skipped.
    net_ : SupremeNet
        The fitted skorch net; ``net_.module_`` is the torch network.
    device_ : str
        Device the model was trained on.
    precision_ : {"float32", "bfloat16"}
        Precision the model was trained in: ``precision``, resolved for ``device_``.
    n_iter_ : int
        Clustering epochs run.
    n_features_in_ : int
        Size of the second axis of ``X`` (features, or image height / channels).
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features of ``X``; only when ``X`` has feature names that are
        all strings (a pandas DataFrame).
    input_shape_ : tuple of int
        Shape of one sample.

    See Also
    --------
    sklearn.cluster.KMeans : Clustering without transfer.
    sklearn_supreme.model_selection.SupremeClustererCV : ``tau`` chosen by
        cross-validation on the source classes, without target labels.
    sklearn_supreme.metrics.cluster_accuracy_scorer : There is no ``score``
        method (clusterings are scored against labels, after matching clusters to
        classes), so searches and ``cross_validate`` on labelled data take
        ``scoring=cluster_accuracy_scorer``.

    Notes
    -----
    With ``pair_weighting="separate"`` the clustering loss of a target batch of ``n``
    samples with current assignments ``p``, perturbed assignments ``g(p)`` and
    initial assignments ``p~`` is::

        L = self_weight * -(1/n) sum_i log(p_i . g(p_i))
          + pair_weight * -sum_{i != j} w_ij r~_ij log(p_i . g(p_j))
          + balance_weight * L_balance + factor_weight * L_factor
          + source_weight * L_source

    The paper's Eq. 5 normalises the diagonal together with all ``n^2`` pairs; on
    CIFAR-10 that left the accuracy at the K-means level, hence the default.

    References
    ----------
    .. [1] J. Huang and S. Gong, "Unsupervised Transfer Learning with Self-Supervised
       Remedy", 2020.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_supreme import SupremeClusterer
    >>> X, y = load_digits(return_X_y=True)
    >>> source, target = y < 5, y >= 5
    >>> model = SupremeClusterer(n_clusters=5, pretrain_epochs=2, max_epochs=2,
    ...                          random_state=0)
    >>> labels = model.fit_predict(X[target], source=(X[source], y[source]))
    >>> labels.shape, model.predict_proba(X[target][:3]).shape
    ((896,), (3, 5))
    """

    _parameter_constraints = {
        "n_clusters": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "tau": [Interval(Real, 0, None, closed="neither")],
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "n_factors": [Interval(Integral, 1, None, closed="left")],
        "self_weight": [Interval(Real, 0, None, closed="left")],
        "pair_weight": [Interval(Real, 0, None, closed="left")],
        "balance_weight": [Interval(Real, 0, None, closed="left")],
        "factor_weight": [Interval(Real, 0, None, closed="left")],
        "source_weight": [Interval(Real, 0, None, closed="left")],
        "pair_weighting": [StrOptions({"separate", "literal"})],
        # Module classes and instances are both callables; make_backbone tells them apart.
        "backbone": [StrOptions({"auto", "mlp", "cnn", "resnet18"}), callable],
        "backbone_params": [dict, None],
        "pretrain_epochs": [Interval(Integral, 0, None, closed="left")],
        "pretrain_lr_schedule": [StrOptions({"constant", "cosine"})],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 2, None, closed="left")],
        "source_batch_size": [Interval(Integral, 2, None, closed="left"), None],
        "freeze": [str, list, tuple, None],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "augment": [StrOptions({"auto"}), callable],
        "init_pca": ["boolean"],
        "standardize": ["boolean"],
        "device": [str, torch.device],
        "precision": [StrOptions({"auto", "float32", "bfloat16"})],
        "compile": ["boolean", dict],
        "checkpoint_dir": [str, os.PathLike, None],
        "checkpoint_every": [Interval(Integral, 1, None, closed="left")],
        "warm_start": ["boolean"],
        "callbacks": [list, None],
        "memory": [None, str, HasMethods(["cache"])],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        tau=1.0,
        alpha=1.0,
        n_factors=64,
        self_weight=1.0,
        pair_weight=1.0,
        balance_weight=3.0,
        factor_weight=0.1,
        source_weight=1.0,
        pair_weighting="separate",
        backbone="auto",
        backbone_params=None,
        pretrain_epochs=20,
        pretrain_lr_schedule="constant",
        max_epochs=100,
        batch_size=64,
        source_batch_size=None,
        freeze=None,
        lr=1e-3,
        augment="auto",
        init_pca=True,
        standardize=True,
        device="auto",
        precision="auto",
        compile=False,
        checkpoint_dir=None,
        checkpoint_every=1,
        warm_start=False,
        callbacks=None,
        memory=None,
        random_state=None,
        verbose=0,
    ):
        self.n_clusters = n_clusters
        self.tau = tau
        self.alpha = alpha
        self.n_factors = n_factors
        self.self_weight = self_weight
        self.pair_weight = pair_weight
        self.balance_weight = balance_weight
        self.factor_weight = factor_weight
        self.source_weight = source_weight
        self.pair_weighting = pair_weighting
        self.backbone = backbone
        self.backbone_params = backbone_params
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_lr_schedule = pretrain_lr_schedule
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.source_batch_size = source_batch_size
        self.freeze = freeze
        self.lr = lr
        self.augment = augment
        self.init_pca = init_pca
        self.standardize = standardize
        self.device = device
        self.precision = precision
        self.compile = compile
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.warm_start = warm_start
        self.callbacks = callbacks
        self.memory = memory
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fitting
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, source=None, *, X_source=None, y_source=None):
        """Cluster the target samples ``X``, with knowledge from ``source``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or image array
            Target samples: feature rows, uint8 images ``(N, H, W, C)`` (other
            integer dtypes and nested lists of integers too, if their values lie in
            0-255) or float images ``(N, C, H, W)``; as numpy arrays, lists,
            DataFrames (feature rows) or CPU torch tensors.
        y : None
            Ignored; present for API consistency. A pair ``(X_source, y_source)``
            given here raises a TypeError: the source goes to ``source``.
        source : tuple (X_source, y_source), default=None
            Labelled source samples of other classes, shaped like ``X`` per sample.
            Labels may be values of any one sortable type (strings, integers...),
            none missing; at least two classes. A DataFrame ``X_source`` must have
            the columns of a DataFrame ``X``, in the same order.
        X_source : array-like, default=None
            The source samples as a separate argument, instead of ``source``; give
            ``y_source`` with it. This form lets a
            :class:`~sklearn.pipeline.Pipeline` pass the source through its fitted
            preprocessing (see Notes).
        y_source : array-like of shape (n_source_samples,), default=None
            The labels of ``X_source``.

        Returns
        -------
        self : SupremeClusterer
            The fitted estimator.

        Notes
        -----
        In a :class:`~sklearn.pipeline.Pipeline`, the source must go through the
        same fitted preprocessing as the target. ``pipe.fit(X, supreme__source=...)``
        hands it over untransformed; instead, with metadata routing on, request
        ``X_source`` and ``y_source`` and let the pipeline transform ``X_source``::

            import sklearn
            sklearn.set_config(enable_metadata_routing=True)
            pipe = Pipeline(
                [("scale", StandardScaler()),
                 ("supreme", SupremeClusterer(5).set_fit_request(X_source=True,
                                                                  y_source=True))],
                transform_input=["X_source"],
            )
            pipe.fit(X, X_source=X_source, y_source=y_source)

        The preprocessing is fitted on the target ``X`` alone. Call ``pipe.fit``
        and read ``pipe[-1].labels_``: in scikit-learn 1.9, ``Pipeline.fit_predict``
        hands the final step its metadata untransformed. ``transform_input=["source"]``
        would transform both members of the tuple, labels included.
        A :class:`~sklearn.model_selection.GridSearchCV` over such a pipeline takes
        ``X_source`` and ``y_source`` the same way (and refuses ``source``); it
        splits an ``X_source`` of exactly as many samples as ``X`` along with ``X``,
        so each fold's fit then gets that fold's share of the source.
        """
        _check_y_is_not_the_source(y)
        # Nothing is left half-fitted: on any error (Ctrl-C included) the estimator
        # returns to exactly the state it had before this call.
        previous_state = self.__dict__.copy()
        try:
            self._fit(X, source, X_source, y_source)
        except BaseException as exc:
            self.__dict__.clear()
            self.__dict__.update(previous_state)
            if isinstance(exc, TrainingInterrupted):
                raise KeyboardInterrupt(str(exc)) from exc
            raise
        return self

    def _validate_params(self):
        """scikit-learn's check of the parameters, and no bool for an integer one
        (:func:`_refuse_bool`): True would reach the network as a size of 1."""
        super()._validate_params()
        _refuse_bools(self)

    def fit_predict(self, X, y=None, source=None, **kwargs):
        """Cluster the target samples ``X`` and return their clusters, ``labels_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or image array
            Target samples, as for :meth:`fit`.
        y : None
            Ignored, as for :meth:`fit`: a pair ``(X_source, y_source)`` given here
            raises a TypeError.
        source : tuple (X_source, y_source), default=None
            Labelled source samples, as for :meth:`fit`.
        **kwargs : dict
            ``X_source`` and ``y_source``, as for :meth:`fit`.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Cluster of each sample of ``X``.
        """
        # Not ClusterMixin's, which calls fit(X, **kwargs) without y: a source pair
        # given as y would be dropped unseen, and the fit would transfer nothing.
        return self.fit(X, y, source, **kwargs).labels_

    def _validate_fit_data(self, X, source, X_source=None, y_source=None):
        """Every check ``fit`` makes of its data before training: the target, the
        source, and enough target samples for ``n_clusters``; and of its callbacks
        (:meth:`_check_callbacks`). Sets the input
        attributes (``n_features_in_``...); :class:`SupremeClustererCV` runs it on a
        clone before its search, so that a target its refit would refuse fails first."""
        self._check_callbacks()
        # A perturbation's settings are checked when used; here, before any training.
        if isinstance(self.augment, (ImagePerturbation, VectorPerturbation)):
            self.augment._validate()
        # The target's own column labels: feature_names_in_ keeps string ones only,
        # and pd.DataFrame(array) labels its columns 0, 1...
        columns = getattr(X, "columns", None)
        X, kind = self._validate_X(X, reset=True)
        Xs, ys, encoder = self._validate_source(source, X, kind, columns, X_source, y_source)
        if X.shape[0] < 2:
            raise ValueError(
                f"n_samples={X.shape[0]}: {type(self).__name__} needs at least 2 target samples "
                "(pairs of samples are its training signal)."
            )
        if self.n_clusters == "auto" and X.shape[0] < 3:
            raise ValueError(
                f"n_clusters='auto' needs at least 3 target samples to choose between 2 "
                f"clusters and more; X has {len(X)}. Give n_clusters as an int."
            )
        if self.n_clusters != "auto" and X.shape[0] < self.n_clusters:
            raise ValueError(
                f"n_samples={X.shape[0]} should be >= n_clusters={self.n_clusters}: "
                "there must be at least one target sample per cluster."
            )
        return X, kind, Xs, ys, encoder

    def _check_callbacks(self):
        """Raise ValueError for a callback that monitors a validation score: both nets
        train without a validation split, and skorch would fail at the end of the first
        epoch with ``Key 'valid_loss' was not found in history``."""
        for callback in self.callbacks or []:
            callback = callback[1] if isinstance(callback, tuple) else callback
            if isinstance(callback, type):  # skorch builds a class with its defaults
                name, parameter = callback.__name__, inspect.signature(callback).parameters
                monitor = getattr(parameter.get("monitor"), "default", None)
            else:
                name, monitor = type(callback).__name__, getattr(callback, "monitor", None)
            if isinstance(monitor, str) and monitor.startswith("valid_"):
                raise ValueError(
                    f"callbacks: {name} monitors {monitor!r}, but "
                    f"{type(self).__name__} trains without a validation split. Monitor "
                    "'train_loss', which both training phases record."
                )
            scoring = getattr(callback, "scoring", None)
            if (
                isinstance(callback, (EpochScoring, BatchScoring))
                and callback.on_train and (scoring is None or isinstance(scoring, str))
            ):
                # skorch would fail after the first epoch with scikit-learn's "mix of
                # multiclass and continuous-multioutput targets".
                raise ValueError(
                    f"callbacks: {name}(scoring={scoring!r}, on_train=True) scores the "
                    "nets' predictions against y with a scikit-learn scorer, but neither "
                    "phase has y such a scorer reads: the source net predicts logits, and "
                    "the clustering net's y is the initial soft assignment. Give scoring "
                    "a callable scoring(net, X, y)."
                )

    def _fit(self, X, source, X_source=None, y_source=None):
        X, kind, Xs, ys, encoder = self._validate_fit_data(X, source, X_source, y_source)
        # Hashed once: it keys the warm-start check, the checkpoint and the memory cache.
        data_hash = joblib.hash((X, Xs, ys))
        signature = self._check_warm_start(data_hash)
        checkpoint_path, resume = self._resumable_checkpoint(data_hash)
        _warn_if_read_back(resume, self.random_state, checkpoint_path)
        self._check_memory_dir()
        resuming = resume is not None and resume["phase"] is not None
        # A resumed fit is the interrupted one: its seed, and so its K estimate and
        # initial clusters, even with random_state=None.
        seed = (
            resume["seed"] if resuming
            else check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        )
        device = self._resolve_device()
        if self.n_clusters == "auto" and not (self.warm_start and hasattr(self, "net_")):
            # The estimate can take minutes: settings that cannot build the network
            # (backbone_params, freeze patterns) or key the cache fail before it.
            # Two samples of each: the parameter names depend on the architecture only,
            # and the input statistics of the data are for the fit to compute, once.
            with _seeded(seed, device):  # initialises weights: the caller's RNG untouched
                self._frozen_names(self._build_network(
                    X[:2], kind, None if Xs is None else Xs[:2], ys, seed, 1,
                    check_domains=False,
                ))
            if check_memory(self.memory).location is not None:
                self._hashable_start_params()
        self.n_clusters_, self.n_clusters_estimation_ = self._resolve_n_clusters(
            X, kind, Xs, ys, encoder, seed
        )
        if resuming and resume["n_clusters"] != self.n_clusters_:
            raise ValueError(
                f"{checkpoint_path} was written by a fit with n_clusters={resume['n_clusters']}, "
                f"but this fit estimated n_clusters={self.n_clusters_} from the same data. "
                "Remove the file to fit anew."
            )
        try:
            with _seeded(seed, device), _cudnn_autotune(device):
                fitted = self._train(
                    X, kind, Xs, ys, device, seed, data_hash, checkpoint_path, resume
                )
        # torch.cuda's name for it: the top-level torch.OutOfMemoryError, the same
        # class, only exists from torch 2.5, and an except clause that names a missing
        # attribute would turn every error of an older torch into an AttributeError.
        except torch.cuda.OutOfMemoryError as exc:
            raise MemoryError(
                f"The device {device} ran out of memory with batch_size={self.batch_size}; "
                "lower batch_size (or use a smaller backbone)."
            ) from exc
        _warn_empty_clusters(fitted["labels_"], self.n_clusters_)
        for name, value in fitted.items():
            setattr(self, name, value)
        self._warm_start_signature = signature
        # Names this fitted state, so that a warm start from it has its own checkpoint.
        # With checkpoints, the same in any process that reads this fit back (its
        # fingerprint and seed); without, a fit no other call reproduces for sure.
        self._fit_id = (
            joblib.hash((resume["fingerprint"], seed)) if resume else uuid.uuid4().hex
        )
        self.source_classes_ = encoder.classes_ if encoder is not None else None
        self.device_ = str(device)
        self.precision_ = resolve_precision(self.precision, device)
        self.input_shape_ = X.shape[1:]
        self._n_features_out = self.n_factors

    def _train(self, X, kind, Xs, ys, device, seed, data_hash, checkpoint_path, resume):
        """Both training phases (or their continuation); returns the fitted attributes.
        ``data_hash`` is joblib's hash of ``(X, Xs, ys)``; ``resume`` the checkpoint to
        continue, if any (see ``_resumable_checkpoint``)."""
        X_dev = _as_tensor(X).to(device)
        Xs_dev = None if Xs is None else _as_tensor(Xs).to(device)
        ys_dev = None if ys is None else _as_tensor(ys).to(device)
        common = self._net_params(kind, device)
        # What every checkpoint of this fit records beside the training state.
        extra = {
            "fingerprint": resume["fingerprint"] if resume else None,
            "seed": seed, "n_clusters": self.n_clusters_,
        }

        if self.warm_start and hasattr(self, "net_"):
            # A copy: if this call fails, the previous model must stay as it was.
            net = copy.deepcopy(self.net_)
            # module is module_ in a copy (see _DeviceNet.__getstate__), but not in a
            # net unpickled from a version before that: two copies of the network,
            # and initialize(), which a resume calls, would swap in the one not frozen.
            net.module = net.module_
            net.set_params(**common)
            self._maybe_compile(net.module_)  # copies drop compiled code
            network = net.module_
            frozen_names = self._frozen_names(network)
            p_init = self.initial_proba_
            initial_labels = self.initial_labels_
            pretrain_history = self.pretrain_history_
        else:
            network = self._maybe_compile(
                self._build_network(X, kind, Xs, ys, seed, self.n_clusters_)
            )
            # Checked before pretraining: a misspelt pattern fails now, not minutes later.
            frozen_names = self._frozen_names(network)
            if resume and resume["phase"] == "cluster":
                p_init = resume["p_init"].numpy()
                initial_labels = resume["initial_labels"].numpy()
                pretrain_history = resume["pretrain_history"]
            else:
                def start():
                    return self._start(
                        network, X_dev, Xs_dev, ys_dev, common, checkpoint_path,
                        resume if resume and resume["phase"] == "pretrain" else None, extra, seed,
                    )

                memory = check_memory(self.memory)
                if memory.location is None or (resume and resume["phase"] == "pretrain"):
                    network, pretrain_history, p_init, initial_labels = start()
                else:
                    # The resolved precision too: "auto" differs between GPUs.
                    key = (
                        self._hashable_start_params(), self.n_clusters_, data_hash, kind,
                        str(device), common["precision"], seed,
                    )
                    cached = memory.cache(_cached_start, ignore=["start", "device"])(
                        start, device, key=key
                    )
                    # The same state whether it was computed now or read back.
                    network.load_state_dict(cached["module"])
                    set_rng_state(cached["rng"], device)
                    pretrain_history, p_init, initial_labels = (
                        cached["pretrain_history"], cached["p_init"], cached["initial_labels"]
                    )
            net = SupremeNet(network, max_epochs=self.max_epochs, **common)
            extra.update(
                p_init=torch.as_tensor(p_init), initial_labels=torch.as_tensor(initial_labels),
                pretrain_history=pretrain_history,
            )

        net.set_params(
            source_X=Xs_dev, source_y=ys_dev, source_batch_size=self.source_batch_size,
            loss_params=self._loss_params(),
        )
        _set_callbacks(net, self._callbacks(checkpoint_path, "cluster", extra))
        p_init_dev = torch.as_tensor(p_init).to(device)
        # skorch trains the module instance it is given (or, warm, the copy's).
        with frozen(network, frozen_names):
            if self.warm_start and hasattr(self, "net_"):
                done, interrupted = 0, None
                if resume and resume["phase"] == "cluster":  # this continuation, interrupted
                    done, interrupted = self._check_continues(resume, checkpoint_path), resume
                    restore(net, resume)
                net.partial_fit(
                    X_dev, p_init_dev, epochs=_epochs_left(self.max_epochs, done, interrupted)
                )
            elif resume and resume["phase"] == "cluster":
                restore(net, resume)
                net.partial_fit(
                    X_dev, p_init_dev, epochs=_epochs_left(self.max_epochs, resume["epoch"], resume)
                )
            else:
                net.fit(X_dev, p_init_dev)
        network = net.module_
        network.__dict__.pop("_compiled_encode", None)  # training is over; free its graphs
        logits = _adapted_target_logits(
            network, X_dev, self.batch_size, device, common["precision"]
        )
        # The training data stays with the caller, not inside the fitted model.
        net.set_params(source_X=None, source_y=None)
        _set_callbacks(net, None)
        columns = {"loss": "train_loss", **{t: f"{t}_loss" for t in LOSS_TERMS}, "dur": "dur"}
        return {
            "net_": net,
            "initial_labels_": initial_labels,
            "initial_proba_": p_init,
            "history_": _history(net.history, columns),
            "pretrain_history_": pretrain_history,
            "n_iter_": len(net.history),
            "labels_": logits.argmax(axis=1).astype(np.int64),
        }

    def _frozen_names(self, network):
        """The parameters of ``network`` that ``freeze`` holds fixed while clustering."""
        names = [] if self.freeze is None else match_frozen(network, self.freeze)
        if "target_head.weight" in names:  # a frozen bias alone ("*.bias") still clusters
            # The target head starts the clustering phase at random (reset_target_head):
            # frozen, the clusters would be random projections of the features.
            head = [name for name in names if name.startswith("target_head.")]
            raise ValueError(
                f"freeze={self.freeze!r} matches the target head ({', '.join(head)}), which "
                "the clustering phase initialises at random and trains: frozen, it would "
                "stay random. Leave target_head out of the patterns."
            )
        return names

    def _net_params(self, kind, device):
        """Settings shared by the skorch nets of both phases."""
        return dict(
            augment=resolve_augment(self.augment, kind != "vector"), lr=self.lr,
            batch_size=self.batch_size, device=str(device), verbose=int(self.verbose),
            precision=resolve_precision(self.precision, device),
        )

    def _build_network(self, X, kind, Xs, ys, seed, n_clusters, check_domains=True):
        """The network for this data; ``check_domains=False`` for a build that only
        checks the settings on a few rows, too few to judge whether source and target
        lie apart (:func:`~._input._warn_if_domains_apart`)."""
        data = X if Xs is None else (X, Xs)
        mean, scale = _input_statistics(
            data, kind, self.standardize, seed, check_domains=check_domains
        )
        adapter = InputAdapter(mean, scale, kind)
        in_channels = {"vector": None, "uint8_nhwc": X.shape[-1], "float_nchw": X.shape[1]}[kind]
        backbone = make_backbone(self.backbone, X.shape[1:], self.backbone_params, in_channels)
        feature_dim = feature_dim_of(backbone, adapter, _as_tensor(X[:2]))
        return SupremeNetwork(
            adapter, backbone, feature_dim, self.n_factors,
            n_source_classes=0 if ys is None else int(ys.max()) + 1,
            n_clusters=n_clusters,
        )

    def _start(self, network, X_dev, Xs_dev, ys_dev, common, checkpoint_path, resume, extra, seed):
        """Source pretraining and the initial assignment: what precedes the clustering
        phase, and what ``memory`` caches."""
        network, pretrain_history = self._pretrain(
            network, Xs_dev, ys_dev, common, checkpoint_path, resume, extra
        )
        features = _embed(
            network, X_dev, self.batch_size, self._backbone_is_trained(Xs_dev is not None)
        )
        p_init, kmeans, _ = initial_assignment(
            features, self.n_clusters_, alpha=self.alpha, pca=self.init_pca, random_state=seed
        )
        network.reset_target_head()
        return network, pretrain_history, p_init, kmeans.labels_.astype(np.int64)

    def _start_params(self):
        """The parameters the start of a fit depends on (see ``memory``); the seed,
        device, precision and number of clusters enter the cache key resolved."""
        return {
            k: v for k, v in self.get_params(deep=False).items()
            if k not in _CLUSTERING_PARAMS | _RUN_PARAMS | {"n_clusters", "random_state"}
        }

    def _hashable_start_params(self):
        """``_start_params()`` as :func:`_hashable` values, checked to be hashable by
        joblib, which keys ``memory``."""
        params = {}
        for name, value in self._start_params().items():
            try:
                params[name] = _hashable(value)
                joblib.hash(params[name])
            # joblib hashes by pickling; what fails (a lambda, a local function) raises
            # one of pickle's errors, whose types vary with the object.
            except Exception as exc:
                raise ValueError(
                    f"memory= keys its cache on the parameters, but {name}={value!r} cannot "
                    f"be hashed by joblib ({type(exc).__name__}: {exc}). Define it at module "
                    "level so that it pickles, or set memory=None."
                ) from exc
        return params

    def _pretrained_features(self, X_source, y_source, arrays, random_state=None):
        """Features of each of ``arrays`` from this estimator's backbone, pretrained on
        ``(X_source, y_source)`` alone; the estimator itself is left unchanged.

        What :func:`~sklearn_supreme.model_selection.estimate_n_clusters` embeds
        each probe draw with: a network that never saw the probe classes' labels.
        The input statistics come from the first array and the source, as in ``fit``.
        """
        Xs, kind = _as_network_input(X_source, "X_source")
        ys = LabelEncoder().fit_transform(y_source).astype(np.int64)
        arrays = [_as_network_input(a, "X")[0] for a in arrays]
        device = self._resolve_device()
        seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
        with _seeded(seed, device), _cudnn_autotune(device):
            network = self._build_network(arrays[0], kind, Xs, ys, seed, n_clusters=1)
            try:
                network, _ = self._pretrain(
                    self._maybe_compile(network), _as_tensor(Xs).to(device),
                    _as_tensor(ys).to(device), self._net_params(kind, device), None, None,
                    {},
                )
            except TrainingInterrupted as exc:  # Ctrl-C, as in fit
                raise KeyboardInterrupt(str(exc)) from exc
            trained = self._backbone_is_trained(has_source=True)
            return [
                _embed(network, _as_tensor(a).to(device), self.batch_size, trained)
                for a in arrays
            ]

    def _backbone_is_trained(self, has_source):
        """Whether the backbone's features carry knowledge: pretrained on a source, or
        given as a module (assumed trained); without any, the input itself is embedded."""
        return (has_source and self.pretrain_epochs > 0) or isinstance(self.backbone, nn.Module)

    def _maybe_compile(self, network):
        """``network`` with its training forward compiled, if ``compile`` asks for it."""
        options = self.compile if isinstance(self.compile, dict) else {} if self.compile else None
        if options is not None:
            network.compile_encoder(**{"dynamic": False, **options})
        return network

    def _pretrain(self, network, Xs_dev, ys_dev, common, checkpoint_path, resume, extra):
        """Source pretraining, or its continuation from a checkpoint; the network it
        returns is on the training device."""
        if Xs_dev is None or self.pretrain_epochs == 0:
            # Built on the CPU; skorch moves it only when a net trains it, and the
            # initial features are computed on the device before any does.
            return network.to(common["device"]), {"loss": [], "dur": []}
        callbacks = self._callbacks(checkpoint_path, "pretrain", extra)
        if self.pretrain_lr_schedule == "cosine":
            # First, so that the user's callbacks see each step's rate.
            callbacks.insert(0, (_SCHEDULE_CALLBACK, CosineAnnealing(self.pretrain_epochs)))
        net = SourcePretrainNet(
            network, max_epochs=self.pretrain_epochs, callbacks=callbacks, **common,
        )
        if resume is None:
            net.fit(Xs_dev, ys_dev)
        else:
            restore(net, resume)
            net.partial_fit(
                Xs_dev, ys_dev, epochs=_epochs_left(self.pretrain_epochs, resume["epoch"], resume)
            )
        return net.module_, _history(net.history, {"loss": "train_loss", "dur": "dur"})

    def _callbacks(self, checkpoint_path, phase, extra):
        callbacks = list(self.callbacks or [])
        if checkpoint_path is not None:
            callbacks.append(
                (_CHECKPOINT_CALLBACK,
                 TrainingCheckpoint(checkpoint_path, phase, self.checkpoint_every, extra))
            )
        return callbacks

    def _resumable_checkpoint(self, data_hash):
        """The checkpoint file of this fit, and what to resume from: the checkpoint, or
        ``{"fingerprint": ..., "phase": None}`` when there is none yet; ``(None, None)``
        without ``checkpoint_dir``.

        The fingerprint hashes the parameters that shape the model and the data; a
        warm start's, also the fitted state it continues, so that it never resumes
        from (or overwrites) the checkpoint of a fresh fit or of another continuation.
        """
        if self.checkpoint_dir is None:
            return None, None
        self._check_checkpoint_dir()
        params = {
            k: v for k, v in self.get_params(deep=False).items() if k not in _RUN_PARAMS
        }
        if isinstance(params["random_state"], np.random.RandomState):
            # Its state advances with every fit: as None, a draw that a resume records.
            params["random_state"] = "a RandomState instance"
        try:
            key = (_hashable(params), data_hash)
            if self.warm_start and hasattr(self, "net_"):
                # A model fitted before _fit_id existed continues under a key of its own.
                key += ("warm start of", getattr(self, "_fit_id", None) or uuid.uuid4().hex)
            fingerprint = joblib.hash(key)
        # joblib hashes by pickling; the error types vary with the object (see memory).
        except Exception as exc:
            raise ValueError(
                "checkpoint_dir names each fit's checkpoint by a hash of its parameters, but "
                f"they cannot be hashed by joblib ({type(exc).__name__}: {exc}). Define "
                "callables at module level so that they pickle, or set checkpoint_dir=None."
            ) from exc
        path = checkpoint_file(self.checkpoint_dir, fingerprint)
        if not path.exists():
            return path, {"fingerprint": fingerprint, "phase": None}
        try:
            state = load_checkpoint(path)
        # Truncated, emptied or overwritten: torch's errors (zip, EOF, unpickling) name
        # neither the file nor the remedy, and one advises an unsafe load.
        except Exception as exc:
            raise ValueError(
                f"{path} cannot be read as a checkpoint ({type(exc).__name__}); it may have "
                "been truncated or overwritten. Remove the file to fit anew."
            ) from exc
        if state.get("fingerprint") != fingerprint:  # a renamed or foreign file
            raise ValueError(
                f"{path} holds a checkpoint of a different fit (other parameters or data). "
                "Remove the file, or point checkpoint_dir at another directory."
            )
        return path, state

    def _check_checkpoint_dir(self):
        """Raise ValueError if ``checkpoint_dir`` cannot hold checkpoints: found before
        training (and by the command lines before loading their data), not when the
        first epoch ends and its checkpoint is saved."""
        if self.checkpoint_dir is None:
            return
        problem = folder_problem(self.checkpoint_dir)
        if problem is not None:
            raise ValueError(
                f"checkpoint_dir={os.fspath(self.checkpoint_dir)!r} cannot hold checkpoints: "
                f"{problem}"
            )

    def _check_memory_dir(self):
        """Raise ValueError if ``memory`` names a folder that cannot hold the cache:
        found before training, not when the first result is stored."""
        location = (
            self.memory if isinstance(self.memory, (str, os.PathLike))
            else getattr(self.memory, "location", None)
        )
        if location is None:
            return
        problem = folder_problem(location)
        if problem is not None:
            raise ValueError(
                f"memory={os.fspath(location)!r} cannot hold the cache: {problem}"
            )

    def _check_continues(self, resume, path):
        """The epochs a warm start's checkpoint has done beyond the fitted model, after
        checking that it continues this model (its history starts with ours)."""
        # .get: a row without a loss is an epoch a callback ended part way.
        fitted = [row.get("train_loss") for row in self.net_.history]
        recorded = [row.get("train_loss") for row in resume["history"]]
        done = resume["epoch"] - len(fitted)
        if not (0 <= done <= self.max_epochs and recorded[: len(fitted)] == fitted):
            raise ValueError(
                f"{path} does not continue this fitted model (its history differs). "
                "Remove the file, or point checkpoint_dir at another directory."
            )
        return done

    def _loss_params(self):
        return {
            "tau": self.tau,
            "self_weight": self.self_weight,
            "pair_weight": self.pair_weight,
            "balance_weight": self.balance_weight,
            "factor_weight": self.factor_weight,
            "source_weight": self.source_weight,
            "pair_weighting": self.pair_weighting,
        }

    # --------------------------------------------------------------- validation
    def _validate_X(self, X, reset, cast=True):
        """``X`` validated, and its layout; ``cast=False`` leaves float arrays in their
        dtype (:func:`_as_network_input`)."""
        X = _integer_images_as_uint8(X, "X")
        if not reset:
            self._check_sample_dimensions(X)
        X = validate_data(
            self, X, reset=reset, allow_nd=True, dtype=[np.float32, np.float64, np.uint8]
        )
        X, kind = _as_network_input(X, "X", cast=cast)
        if not reset:
            self._check_fitted_shape(X.shape, kind)
        return X, kind

    def _check_sample_dimensions(self, X):
        """Name images, and samples of another dimension than the fitted ones (feature
        rows for an image model, 3-D arrays), by their shape if it is not the fitted
        one: before scikit-learn's count of "features" (the second axis: a height or a
        number of channels), which would ask an image model for 8 columns. Feature rows
        of another width and 1-D input keep scikit-learn's messages. Lists too: 4-D
        array-likes arrive as arrays (:func:`_integer_images_as_uint8`)."""
        if isinstance(X, (list, tuple)):
            try:
                shape = np.shape(X)
            except ValueError:  # ragged rows: validation names them
                return
        else:
            shape = getattr(X, "shape", None)
        ndim = None if shape is None else len(shape)
        if ndim is None or ndim < 2:
            return
        if ndim == 4:
            kind = "uint8_nhwc" if getattr(X, "dtype", None) == np.uint8 else "float_nchw"
        elif ndim != len(self.input_shape_) + 1:
            kind = "vector" if ndim == 2 else None
        else:
            return
        self._check_fitted_shape(shape, kind)

    def _check_fitted_shape(self, shape, kind):
        """``kind`` is None for arrays that are neither feature rows nor images."""
        if shape[1:] != self.input_shape_ or kind != self.net_.module_.adapter.kind:
            given = "" if kind is None else f" ({_describe(kind)})"
            raise ValueError(
                f"X has samples of shape {tuple(shape[1:])}{given}, but "
                f"{type(self).__name__} was fitted on samples of shape "
                f"{self.input_shape_} ({_describe(self.net_.module_.adapter.kind)})."
            )

    def _check_warm_start(self, data_hash):
        """What a later warm start must keep (the parameters of ``_WARM_START_FIXED`` and
        the data, by its hash); for a warm start, checks that it keeps what the previous
        fit recorded."""
        params = self.get_params(deep=False)
        signature = {
            "params": {name: params[name] for name in _WARM_START_FIXED},
            "data": data_hash,
        }
        if not (self.warm_start and hasattr(self, "net_")):
            return signature
        previous = self._warm_start_signature
        changed = [
            f"{name}={value!r} (was {previous['params'][name]!r})"
            for name, value in signature["params"].items()
            if not _equal(value, previous["params"][name])
            # "auto", or the number it resolved to, keeps the fitted clusters.
            and not (name == "n_clusters" and value in ("auto", self.n_clusters_))
        ]
        if changed:
            raise ValueError(
                "warm_start=True continues the fitted network and initial clusters, which "
                f"fix {', '.join(_WARM_START_FIXED)}; this fit changes {'; '.join(changed)}. "
                "Set warm_start=False to fit anew."
            )
        if signature["data"] != previous["data"]:
            raise ValueError(
                "warm_start=True continues the previous fit on the same data, but X or the "
                "source differ from that fit's. Pass the same data, or set "
                "warm_start=False to fit anew."
            )
        return signature

    def _resolve_n_clusters(self, X, kind, Xs, ys, encoder, seed):
        """``n_clusters``, or for ``"auto"`` the number estimated from the source; and
        the estimation's results (None for an int). The estimate is seeded by an int
        ``random_state``, else by the fit's ``seed`` (which a checkpoint records)."""
        if self.n_clusters != "auto":
            return self.n_clusters, None
        if self.warm_start and hasattr(self, "net_"):
            # A warm start continues the fitted clusters.
            return self.n_clusters_, self.n_clusters_estimation_
        if Xs is None:
            raise ValueError(
                "n_clusters='auto' estimates the number of clusters from the source classes: "
                "pass source=(X_source, y_source), or give n_clusters as an int."
            )
        # Imported here: model_selection imports this module.
        from .model_selection import estimate_n_clusters

        # The criterion that was right on each kind of input (benchmarks page): on the
        # digits' feature vectors the default; on natural images' pixels, where classes
        # overlap, the silhouette gives 2 whatever the truth and probe_cut counted
        # CIFAR-10's 5 novel classes.
        criterion = "accuracy_silhouette" if kind == "vector" else "probe_cut"
        # The source in the caller's labels, so that the results name its classes
        # (the draws are the same: both sort the classes alike).
        return estimate_n_clusters(
            X, Xs, encoder.classes_[ys], candidates=range(2, min(21, len(X))),
            criterion=criterion,
            random_state=self.random_state if isinstance(self.random_state, Integral) else seed,
        )

    def _validate_source(self, source, X, target_kind, columns, X_source=None, y_source=None):
        """The source checked against the validated target ``X`` and its ``columns``
        (None unless ``X`` was given as a DataFrame)."""
        source = _source_pair(source, X_source, y_source)
        if source is None:
            return None, None, None
        X_source, y_source = source
        _check_source_columns(columns, X_source)
        X_source = _check_named_array(
            _integer_images_as_uint8(X_source, "X_source"), "X_source", allow_nd=True,
            dtype=[np.float32, np.float64, np.uint8],
        )
        X_source, kind = _as_network_input(X_source, "X_source")
        y_source = _check_source_labels(y_source)
        if len(y_source) != len(X_source):
            raise ValueError(
                f"y_source has {len(y_source)} labels but X_source has {len(X_source)} samples."
            )
        if X_source.shape[1:] != X.shape[1:] or kind != target_kind:
            raise ValueError(
                f"X_source has samples of shape {X_source.shape[1:]} ({_describe(kind)}) but X has "
                f"samples of shape {X.shape[1:]} ({_describe(target_kind)}); source and target "
                "must have the same feature shape."
            )
        encoder = LabelEncoder()
        y_encoded = encoder.fit_transform(y_source)  # sortable: _check_source_labels
        if len(encoder.classes_) < 2:
            raise ValueError(
                f"y_source must contain at least 2 classes, got {len(encoder.classes_)} "
                f"({encoder.classes_.tolist()})."
            )
        return X_source, y_encoded.astype(np.int64), encoder

    def _resolve_device(self):
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            device = torch.device(self.device)
        except RuntimeError as exc:
            raise ValueError(f"device={self.device!r} is not a torch device.") from exc
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device={self.device!r} was asked for, but CUDA is not available.")
        if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
            raise ValueError(
                f"device={self.device!r} was asked for, but this machine has "
                f"{torch.cuda.device_count()} CUDA device(s), numbered from 0."
            )
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"device={self.device!r} was asked for, but MPS is not available.")
        if device.type == "meta":  # shapes without data: nothing to train or predict
            raise ValueError(
                f"device={self.device!r} holds no data (torch's meta tensors have shapes "
                "only); use 'cpu', 'cuda' or 'auto'."
            )
        if device.type not in ("cpu", "cuda", "mps"):
            # Other backends (xpu...) have no common availability check: a tensor tells.
            try:
                torch.empty(0, device=device)
            except (RuntimeError, AssertionError) as exc:
                raise ValueError(
                    f"device={self.device!r} was asked for, but is not usable here: {exc}"
                ) from exc
        return device

    # --------------------------------------------------------------- prediction
    def _forward(self, X, output="logits"):
        check_is_fitted(self)
        # Float64 rows are cast batch by batch (_forward_batches), not copied whole.
        X, _ = self._validate_X(X, reset=False, cast=False)
        device = self.net_.device
        return _forward_batches(
            self.net_.module_, X, self.batch_size, device,
            resolve_precision(self.precision, device), output,
        )

    def predict(self, X):
        """Cluster of each sample of ``X``.

        Parameters
        ----------
        X : array-like of the shape seen in ``fit``
            Samples of the kind the model was fitted on: feature rows with the
            fitted number of features, or images of the fitted shape.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Index of each sample's cluster, in ``range(n_clusters_)``.
        """
        return self._forward(X).argmax(axis=1).astype(np.int64)

    def predict_proba(self, X):
        """Soft cluster assignment of each sample of ``X`` (the target head's softmax).

        Parameters
        ----------
        X : array-like of the shape seen in ``fit``
            Samples of the kind the model was fitted on: feature rows with the
            fitted number of features, or images of the fitted shape.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_clusters)
            Rows sum to one.
        """
        return softmax(self._forward(X), axis=1)

    def transform(self, X):
        """Factor-space representation ``x^a`` of each sample (Eq. 7).

        Parameters
        ----------
        X : array-like of the shape seen in ``fit``
            Samples of the kind the model was fitted on: feature rows with the
            fitted number of features, or images of the fitted shape.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_factors), float32
            Codes in [0, 1].
        """
        return self._forward(X, output="factors")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Images are 4-D. scikit-learn has no tag for that; three_d_array (input of
        # more than 2 dimensions) is the nearest, although 3-D arrays are refused.
        tags.input_tags.three_d_array = True
        # transform always returns float32 codes, whatever the input precision.
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


# ---------------------------------------------------------------------- helpers
def _cached_start(start, device, *, key):
    """The start of a fit (see ``SupremeClusterer(memory=...)``) in a form
    :class:`joblib.Memory` can store: the network's weights on the CPU, the initial
    assignment, and torch's random generator states after it (the CPU's and
    ``device``'s). joblib hashes ``key`` (which names the device) and ignores
    ``start``, the function that computes it all, and ``device``."""
    network, pretrain_history, p_init, initial_labels = start()
    return {
        "module": {k: v.detach().cpu() for k, v in network.state_dict().items()},
        "pretrain_history": pretrain_history,
        "p_init": p_init,
        "initial_labels": initial_labels,
        "rng": rng_state(device),
    }


# torch's random number generators are global to the process: fits in threads of one
# process (joblib's threading backend) would draw from each other's streams, and an
# integer random_state would no longer reproduce a fit. They take turns instead. The
# warning filters (warnings.catch_warnings, not thread-safe before Python 3.14) and
# cuDNN's autotuning flag that a fit sets are global too, and are set under it.
_GLOBAL_STATE_LOCK = threading.RLock()


@contextlib.contextmanager
def _seeded(seed, device):
    """Seed torch inside ``fit`` only: the caller's global RNG state is restored after.

    Also makes float32 torch's default dtype meanwhile: the network is built and
    trained in float32 (the input adapter casts to it) also when the caller set
    another default (``torch.set_default_dtype(torch.float64)``). Holds a
    process-wide lock meanwhile (:data:`_GLOBAL_STATE_LOCK`), so that seeded training
    in one thread never shares the generator or the default with another thread's.
    """
    # Only the generators the fit uses: torch.manual_seed would also seed every GPU's
    # and MPS's, which are the caller's.
    index = cuda_index(device)
    with _GLOBAL_STATE_LOCK, torch.random.fork_rng(devices=[] if index is None else [index]):
        torch.default_generator.manual_seed(seed)
        if index is not None:
            torch.cuda.default_generators[index].manual_seed(seed)
        if device.type == "mps":
            mps_state = torch.mps.get_rng_state()
            torch.mps.manual_seed(seed)
        default_dtype = torch.get_default_dtype()
        torch.set_default_dtype(torch.float32)
        try:
            yield
        finally:
            torch.set_default_dtype(default_dtype)
            if device.type == "mps":
                torch.mps.set_rng_state(mps_state)


@contextlib.contextmanager
def _cudnn_autotune(device):
    """cuDNN picks the fastest kernels for the fit's fixed batch shapes (CUDA only).

    The global flag is restored after ``fit``.
    """
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = before or device.type == "cuda"
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


#: Set by :func:`_empty_clusters_ignored`.
_EMPTY_CLUSTERS_SILENCED = contextvars.ContextVar(
    "sklearn_supreme_empty_clusters_silenced", default=False
)


def _empty_clusters_ignored():
    """Silence :func:`_warn_empty_clusters` in this thread (context) meanwhile
    (:func:`~._input._flag_set`), for fits whose callers account for empty clusters
    themselves (a search's scored held-out fits, a profile's timing fits)."""
    return _flag_set(_EMPTY_CLUSTERS_SILENCED)


def _warn_if_read_back(resume, random_state, path):
    """A UserWarning when ``fit`` reads a finished fit back from ``checkpoint_dir`` while
    ``random_state`` asks for a new draw (None or a RandomState): as documented, the
    file answers for every repeat of that fit, so repeats vary not at all. Drawing anew
    instead would orphan the checkpoints of what continues the fit (a warm start keyed
    on it), which a rerun of a crashed script must find."""
    finished = resume is not None and resume["phase"] == "cluster" and resume.get("ended")
    if finished and not isinstance(random_state, Integral):
        which = "random_state=None" if random_state is None else "a RandomState as random_state"
        warnings.warn(
            f"checkpoint_dir holds this fit, finished ({path.name}): its model is read "
            f"back. With {which}, every repeat of this fit (same parameters and data) in "
            "that directory returns this model, not a new draw; give repeats integer "
            "seeds, or another checkpoint_dir, to draw anew.",
            UserWarning,
            stacklevel=_user_stacklevel(),
        )


def _warn_empty_clusters(labels, n_clusters):
    """A :class:`~sklearn.exceptions.ConvergenceWarning` if ``labels`` leave clusters
    empty, as :class:`~sklearn.cluster.KMeans` warns when it finds fewer distinct
    clusters than asked for.

    The network's target head has ``n_clusters`` outputs, but nothing forces every
    one of them to win some sample: the balance term (Eq. 6) only pulls the batch's
    mean assignment towards uniform. An undertrained or collapsed clustering leaves
    some empty, and labels then skip values.

    The advice puts ``balance_weight`` first: on collapsed fits the balance term is
    small all along (the soft assignments average to uniform while a few clusters
    win every argmax), so more epochs alone do not help; on 8x8 digit images with
    the small CNN, a weight of 10 avoided the collapse of 2 seeds in 3 at the
    default 3 (user guide, "Limits").
    """
    empty = np.setdiff1d(np.arange(n_clusters), labels)
    if empty.size and not _EMPTY_CLUSTERS_SILENCED.get():
        warnings.warn(
            f"{empty.size} of the n_clusters={n_clusters} clusters are empty in labels_ "
            f"(no target sample is assigned to {empty.tolist()[:10]}). Raise "
            "balance_weight, check that augment's perturbation keeps a sample's class "
            "(flips do not for digits or text), train longer (max_epochs), or lower "
            "n_clusters.",
            ConvergenceWarning,
            stacklevel=_user_stacklevel(),
        )


def _set_callbacks(net, callbacks):
    # skorch's set_params(callbacks=...) initialises the old list on an initialised net.
    net.callbacks = callbacks
    if net.initialized_:
        net.initialize_callbacks()


def _refuse_bool(name, value, owner):
    """Raise InvalidParameterError if ``value``, given for the integer parameter
    ``name`` of ``owner`` (a class or function name), is a bool.

    scikit-learn's ``Interval(Integral, ...)`` admits True and False, as bool
    subclasses int: ``n_draws=True`` would run one draw, ``n_clusters=True`` fail
    inside torch, neither naming the parameter.
    """
    if isinstance(value, (bool, np.bool_)):
        raise InvalidParameterError(
            f"The {name!r} parameter of {owner} must be an int, not a bool. Got {value!r} "
            "instead."
        )


def _refuse_bools(estimator):
    """:func:`_refuse_bool` for each parameter of ``estimator`` that its
    ``_parameter_constraints`` give an integer interval."""
    for name, constraints in estimator._parameter_constraints.items():
        if any(isinstance(c, Interval) and c.type is Integral for c in constraints):
            _refuse_bool(name, getattr(estimator, name), type(estimator).__name__)


def _hashable(value):
    """``value`` with every torch module and tensor in it (in dicts, lists and tuples)
    replaced by what joblib hashes alike in every process: a module, its class and
    all its attributes so replaced (parameters, buffers, submodules, plain settings,
    training mode); a tensor, its dtype and values as a numpy array; a lazy parameter,
    its class.

    joblib hashes by pickling, and a pickled tensor carries an id that differs from
    process to process: with a module instance as ``backbone``, the checkpoint of an
    interrupted fit was not found again by a new process, nor a ``memory`` entry.
    Other values are returned as they are, so their hashes do not change.
    """
    if isinstance(value, dict):
        return {key: _hashable(item) for key, item in value.items()}
    if type(value) in (list, tuple):  # subclasses (named tuples) are left as they are
        return type(value)(_hashable(item) for item in value)
    if isinstance(value, nn.Module):
        # Everything pickling the module would hash, tensors excepted: a setting that
        # forward reads (an activation's name) keys it as much as the weights do.
        return ("torch module", f"{type(value).__module__}.{type(value).__qualname__}",
                _hashable(vars(value)))
    if inspect.ismethod(value) and isinstance(value.__self__, nn.Module):
        # A hook of the module on itself (lazy modules register some): its name, not
        # the module again.
        return ("method of the module", value.__func__.__qualname__)
    if torch.nn.parameter.is_lazy(value):
        return ("torch lazy tensor", type(value).__name__)  # no values until first used
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu()
        # numpy has no bfloat16: its values are exact in float32, and the dtype is kept.
        values = tensor.float() if tensor.dtype == torch.bfloat16 else tensor
        return ("torch tensor", str(tensor.dtype), values.numpy())
    return value


def _equal(a, b):
    """Whether two parameter values are the same, without failing on values that
    do not compare to a bool (arrays): those count as different unless identical."""
    if a is b:
        return True
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _epochs_left(epochs, done, resume):
    """The epochs a resumed phase still trains: none if its checkpoint was saved at the
    phase's end (a callback may have ended it early), else the rest of ``epochs``."""
    return 0 if resume and resume.get("ended") else epochs - done


def _history(history, columns):
    """A skorch History as plain lists, one per column, one value per epoch."""
    return {
        name: [float(epoch[key]) for epoch in history if key in epoch]
        for name, key in columns.items()
    }
