"""Networks: input adapters, backbones f_theta, and the SUPREME heads.

A :class:`SupremeNetwork` is ``adapter -> backbone -> factor space -> two heads``:
the backbone gives the visual features ``x^v``, the factor layer the codes
``x^a = sigmoid(f_omega(x^v))`` of Eq. 7, and two linear heads the source class
logits (Eq. 8) and the target cluster logits.
"""

import copy
import functools
import inspect

import torch
from torch import nn

__all__ = [
    "InputAdapter",
    "MLPBackbone",
    "SmallCNN",
    "CifarResNet18",
    "SupremeNetwork",
    "make_backbone",
]


class InputAdapter(nn.Module):
    """Turns raw input batches into standardised float tensors on the device.

    Feature rows are centred per feature and divided by one common scale. Images
    arrive either as uint8 ``(N, H, W, C)`` or as float ``(N, C, H, W)``; uint8
    images are scaled to [0, 1] and permuted to channels-first (channels-last in
    memory, which is what convolutions on tensor cores prefer), then standardised
    per channel.

    Parameters
    ----------
    mean, scale : torch.Tensor
        Per-feature (vectors) or per-channel (images) statistics.
    kind : {"vector", "uint8_nhwc", "float_nchw"}
        Layout of the raw input.
    """

    def __init__(self, mean, scale, kind):
        super().__init__()
        self.kind = kind
        shape = (1, -1, 1, 1) if kind != "vector" else (1, -1)
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).reshape(shape))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32).reshape(shape))

    def forward(self, x):
        if self.kind == "uint8_nhwc":
            x = x.permute(0, 3, 1, 2).float().div_(255.0)
            x = x.contiguous(memory_format=torch.channels_last)
        else:
            x = x.float()
        return (x - self.mean) / self.scale


class MLPBackbone(nn.Module):
    """Fully connected backbone for feature vectors.

    Parameters
    ----------
    n_features : int
        Input dimension.
    hidden_layer_sizes : tuple of int, default=(512,)
        Width of each hidden layer; the last one is the feature dimension. One layer
        by default: on digits, K-means on the features of a second layer pretrained on
        the source scored ACC 0.50-0.60 on novel classes, on the first layer 0.79-0.83.
    """

    def __init__(self, n_features, hidden_layer_sizes=(512,)):
        super().__init__()
        layers = []
        width = n_features
        for size in hidden_layer_sizes:
            layers += [nn.Linear(width, size), nn.BatchNorm1d(size), nn.ReLU(inplace=True)]
            width = size
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x.flatten(1))


def _conv_bn(in_channels, out_channels, stride=1):
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class SmallCNN(nn.Module):
    """A small VGG-like CNN for small images: cheap enough for CPU runs.

    Parameters
    ----------
    in_channels : int, default=3
    width : int, default=32
        Channels of the first block; doubled twice.
    """

    def __init__(self, in_channels=3, width=32):
        super().__init__()
        self.layers = nn.Sequential(
            _conv_bn(in_channels, width),
            _conv_bn(width, width),
            nn.MaxPool2d(2),
            _conv_bn(width, 2 * width),
            _conv_bn(2 * width, 2 * width),
            nn.MaxPool2d(2),
            _conv_bn(2 * width, 4 * width),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )

    def forward(self, x):
        return self.layers(x)


class _BasicBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class CifarResNet18(nn.Module):
    """ResNet-18 for 32x32 images: 3x3 stem, no max-pool (as DTC and the paper use).

    Parameters
    ----------
    in_channels : int, default=3
    """

    def __init__(self, in_channels=3):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True)
        )
        blocks = []
        channels = 64
        for out_channels, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            blocks += [_BasicBlock(channels, out_channels, stride), _BasicBlock(out_channels, out_channels, 1)]
            channels = out_channels
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def forward(self, x):
        return self.pool(self.blocks(self.stem(x)))


_BUILTIN = {"mlp": MLPBackbone, "cnn": SmallCNN, "resnet18": CifarResNet18}


def make_backbone(backbone, input_shape, backbone_params=None, in_channels=None):
    """Build the backbone named or given by the user.

    Parameters
    ----------
    backbone : {"auto", "mlp", "cnn", "resnet18"}, nn.Module subclass or instance
        ``"auto"`` is ``"mlp"`` for feature vectors and ``"cnn"`` for images. A class
        is instantiated with ``backbone_params``; an instance is deep-copied so the
        user's module is never changed by fitting.
    input_shape : tuple of int
        Shape of one raw sample: ``(n_features,)`` or ``(H, W, C)`` / ``(C, H, W)``.
    backbone_params : dict or None
        Keyword arguments for the backbone's constructor.
    in_channels : int or None
        Channels of the images, passed to the built-in image backbones.

    Returns
    -------
    nn.Module
    """
    params = dict(backbone_params or {})
    is_image = len(input_shape) == 3
    if isinstance(backbone, nn.Module):
        if params:
            raise ValueError("backbone_params cannot be used with a backbone instance.")
        return copy.deepcopy(backbone)
    if inspect.isclass(backbone) and issubclass(backbone, nn.Module):
        return backbone(**params)
    if not isinstance(backbone, str):
        raise TypeError(
            "backbone must be 'auto', 'mlp', 'cnn', 'resnet18', a torch.nn.Module subclass "
            f"or instance; got {backbone!r}."
        )
    if backbone == "auto":
        backbone = "cnn" if is_image else "mlp"
    if backbone == "mlp":
        if is_image:
            raise ValueError(
                f"backbone='mlp' expects 2-D feature arrays, got images of shape {input_shape}; "
                "use backbone='cnn' or 'resnet18', or flatten the images."
            )
        return _build(functools.partial(MLPBackbone, input_shape[0]), params, backbone, params)
    if not is_image:
        raise ValueError(
            f"backbone={backbone!r} is an image backbone and expects 4-D image arrays "
            f"(N, H, W, C) uint8 or (N, C, H, W) float, got 2-D data with {input_shape[0]} "
            "features; use backbone='mlp'."
        )
    return _build(_BUILTIN[backbone], {"in_channels": in_channels, **params}, backbone, params)


def _build(constructor, params, name, backbone_params):
    """A built-in backbone; a wrong keyword or value in ``backbone_params`` named as such
    (the constructor's own TypeError or torch's error would not say where it came from)."""
    try:
        return constructor(**params)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(
            f"backbone_params={backbone_params!r} do not build backbone={name!r}: {exc}"
        ) from exc


class SupremeNetwork(nn.Module):
    """Adapter, backbone, factor space and the source and target heads.

    Parameters
    ----------
    adapter : InputAdapter
    backbone : nn.Module
        Maps adapted inputs to ``(N, feature_dim)`` features.
    feature_dim : int
    n_factors : int
        Dimension D of the factor space (Eq. 7).
    n_source_classes : int
        Width of the source head; 0 for no source head.
    n_clusters : int
        Width of the target head.
    """

    def __init__(self, adapter, backbone, feature_dim, n_factors, n_source_classes, n_clusters):
        super().__init__()
        self.adapter = adapter
        self.backbone = backbone
        self.factor = nn.Linear(feature_dim, n_factors)
        self.source_head = nn.Linear(n_factors, n_source_classes) if n_source_classes else None
        self.target_head = nn.Linear(n_factors, n_clusters)

    def features(self, x):
        """Visual features ``x^v`` of adapted inputs."""
        return self.backbone(x)

    def factors(self, features):
        """Factor-space codes ``x^a = sigmoid(f_omega(x^v))`` (Eq. 7)."""
        return torch.sigmoid(self.factor(features))

    def encode(self, x):
        """Factor codes ``x^a`` of adapted inputs: backbone, then factor space.

        The training steps call this; after :meth:`compile_encoder` it runs the
        compiled version. Prediction (``forward``) stays eager, so that inference
        batches of other sizes and eval-mode batch norm trigger no recompilation.
        """
        compiled = self.__dict__.get("_compiled_encode")
        return compiled(x) if compiled is not None else self._encode(x)

    def _encode(self, x):
        return self.factors(self.features(x))

    def compile_encoder(self, **compile_kwargs):
        """Compile :meth:`encode` with :func:`torch.compile` for training.

        A compiled function, not the module, is what is compiled: the parameters and
        their state-dict keys stay as they are, a backbone of any class (built-in
        ``nn.Sequential`` included) is traced, and pickles and copies drop the
        compiled code (see ``__getstate__``); call again after loading to compile.
        """
        self._compiled_encode = torch.compile(self._encode, **compile_kwargs)
        return self

    def __getstate__(self):
        state = self.__dict__.copy()  # nn.Module pickles its __dict__
        state.pop("_compiled_encode", None)  # compiled code is neither picklable nor portable
        return state

    def forward(self, x):
        """Target cluster logits and factor codes of raw inputs."""
        a = self._encode(self.adapter(x))
        return self.target_head(a), a

    def reset_target_head(self):
        """Re-initialise the target head (the clustering phase starts from scratch)."""
        self.target_head.reset_parameters()


def feature_dim_of(backbone, adapter, sample):
    """Output width of ``backbone`` on one adapted ``sample`` batch (eval mode, no grad)."""
    was_training = backbone.training
    backbone.eval()
    adapted = None
    try:
        with torch.no_grad():
            adapted = adapter(sample)  # images (N, C, H, W) whatever their layout given
            out = backbone(adapted)
    except Exception as exc:  # the backbone's own error is kept as the cause
        hint = ""
        if isinstance(backbone, SmallCNN) and adapted is not None and min(adapted.shape[2:]) < 4:
            # Its two 2x2 poolings need 4 pixels a side.
            hint = (
                "The small CNN (backbone='cnn') needs images of at least 4x4 pixels; "
                "backbone='resnet18' takes smaller ones."
            )
        raise ValueError(
            f"The backbone failed on input of shape {tuple(sample.shape[1:])}: {exc}"
            + (f". {hint}" if hint else "")
        ) from exc
    finally:
        backbone.train(was_training)
    if out.ndim != 2:
        raise ValueError(
            "The backbone must return one feature vector per sample, shape (N, D); "
            f"it returned shape {tuple(out.shape)}."
        )
    return out.shape[1]
