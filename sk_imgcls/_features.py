"""Pooled embeddings of a pretrained backbone, as a scikit-learn transformer."""

import io
import os
import warnings
from numbers import Integral

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._backbones import DEFAULT_BACKBONE, load_backbone
from ._backbones._preprocess import BackboneFeatures, BackbonePreprocessing
from ._batch_invariance import predict_batches
from ._device import MIXED_PRECISION_OPTIONS, autocast_dtype, resolve_device
from ._distributed import (
    DISTRIBUTED_OPTIONS,
    all_gather_rows,
    local_device,
    resolve_distributed,
)
from ._doc_link import DocLinkMixin
from ._docs import fill_doc
from ._input import check_input, warn_if_feature_rows
from ._random import draw_seed, seeded_torch


def _embed(forward, images):
    return forward(images).cpu().numpy()


@fill_doc
class PretrainedFeatures(DocLinkMixin, TransformerMixin, BaseEstimator):
    """Pooled embeddings of a pretrained backbone, as a feature transformer.

    Images (arrays, file paths or PIL images) become vectors of shape
    (n_samples, n_features), the backbone's globally pooled output before its
    classification layer, so that a classical estimator can follow:
    ``Pipeline([("features", PretrainedFeatures()), ("clf", LogisticRegression())])``.

    Parameters
    ----------
    backbone : str, default="tf_efficientnet_lite0"
        Backbone name; see :func:`sk_imgcls.load_backbone`.
    weights : "imagenet", str, path-like or None, default="imagenet"
        As in :class:`TransferClassifier`; the default works offline.
    image_size : int, "auto" or None, default="auto"
        The size in pixels images are brought to before the network: the
        shorter side is resized to ``image_size / crop_pct``, then the center
        square of that side is kept, as in :class:`TransferClassifier`;
        None uses the weights' input size. "auto" chooses from the
        training images' median shorter side: 9/7 of the weights' size (288
        pixels for 224-pixel weights, FixRes) for images at least as large
        as the weights' size, the weights' size for smaller ones, as in
        :class:`TransferClassifier` (which gives the reasons). The value
        used is ``image_size_``.
    batch_size : int, default=32
        Images per forward pass.
    device : str, default="auto"
        Torch device, as in :class:`TransferClassifier` ("auto": CUDA, then
        MPS, then the CPU); checked in ``fit``.
    num_workers : int, default=0
        DataLoader worker processes decoding image files when X holds paths.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialization of a backbone with ``weights=None``; the
        caller's global torch RNG is left as it was.
    mixed_precision : {{"no", "bf16", "fp16"}}, default="no"
        "bf16" or "fp16" runs the backbone under ``torch.autocast`` in
        bfloat16 or float16 (see :class:`TransferClassifier`); the embeddings
        are returned in float32.
    distributed : "auto" or bool, default="auto"
        Share ``transform`` among the processes of a script started by
        ``torchrun`` (see :class:`TransferClassifier`): each embeds the
        images ``rank::world_size`` and every process returns all the
        embeddings, in order. "auto" does so when a launcher started more
        than one process; True requires a launcher; False embeds every image
        in every process.

    Attributes
    ----------
{array_attributes}
    image_shape_ : tuple of int
        (height, width, 3): the images the backbone takes, after resize and
        crop.
    module_ : BackboneFeatures
        The backbone with its normalization, a plain torch module in eval
        mode: images (batch, height, width, 3) to (batch, ``n_features_out_``).
    preprocess_ : BackbonePreprocessing
        The resize and crop matched to the weights.
    image_size_ : int
        The crop, in pixels: ``image_size``, or what "auto" or None chose.
    n_features_out_ : int
        Width of the embeddings.

    See Also
    --------
    TransferClassifier : Fine-tunes the same backbones end to end.

    Notes
    -----
    Inputs as for :class:`TransferClassifier`. The backbone runs in eval
    mode under ``torch.inference_mode``, so the embeddings are deterministic
    and a ``Pipeline(memory=...)`` can cache them across a grid search over
    the estimator that follows. Linear probes on pretrained features: Kornblith
    et al., "Do Better ImageNet Models Transfer Better?", CVPR 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_imgcls import PretrainedFeatures
    >>> X = np.random.RandomState(0).randint(0, 256, size=(4, 40, 40, 3)).astype(np.uint8)
    >>> PretrainedFeatures("resnet18", weights=None, image_size=32).fit_transform(X).shape
    (4, 512)
    """

    _parameter_constraints: dict = {
        "backbone": [str],
        "weights": [str, os.PathLike, None],
        "image_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"}), None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str],
        "num_workers": [Interval(Integral, 0, None, closed="left")],
        "random_state": ["random_state"],
        "mixed_precision": [StrOptions(set(MIXED_PRECISION_OPTIONS))],
        "distributed": [StrOptions(set(DISTRIBUTED_OPTIONS)), "boolean"],
    }

    # Any channel count becomes the backbone's three (see check_input).
    _any_channels = True

    def __init__(
        self,
        backbone=DEFAULT_BACKBONE,
        *,
        weights="imagenet",
        image_size="auto",
        batch_size=32,
        device="auto",
        num_workers=0,
        random_state=None,
        mixed_precision="no",
        distributed="auto",
    ):
        self.backbone = backbone
        self.weights = weights
        self.image_size = image_size
        self.batch_size = batch_size
        self.device = device
        self.num_workers = num_workers
        self.random_state = random_state
        self.mixed_precision = mixed_precision
        self.distributed = distributed

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Load the backbone and record the input layout.

        Parameters
        ----------
        X : array-like of images, list of file paths or list of PIL images
            As in :class:`TransferClassifier`.
        y : None
            Ignored.

        Returns
        -------
        self : PretrainedFeatures
            The fitted transformer.

        Raises
        ------
        ValueError
            If the backbone or weights cannot be loaded, or X is not images.
        TypeError
            If X is sparse.

        Warns
        -----
        UserWarning
            If X is a flat 2-D array, whose rows the pretrained backbone
            reads as images 1 pixel high (reshape them to images instead).
        """
        resolve_device(self.device)
        warn_if_feature_rows(self, X)
        with seeded_torch(draw_seed(self.random_state)):
            backbone = load_backbone(self.backbone, weights=self.weights)
        preprocess = BackbonePreprocessing.from_config(backbone.config, self.image_size, X)
        check_input(self, X, reset=True, preprocess=preprocess)
        self.preprocess_ = preprocess
        # Channels-last weights, like the inputs the convolutions get.
        self.module_ = (
            BackboneFeatures(backbone.module, mean=backbone.config.mean, std=backbone.config.std)
            .to(memory_format=torch.channels_last)
            .eval()
        )
        self.n_features_out_ = backbone.n_features
        return self

    @property
    def image_size_(self):
        return self.preprocess_.crop

    def transform(self, X):
        """Embed images.

        Parameters
        ----------
        X : array-like of images, list of file paths or list of PIL images
            Any kind ``fit`` takes, of any height and width.

        Returns
        -------
        features : ndarray of shape (n_samples, ``n_features_out_``), dtype float32
            Pooled backbone outputs.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If called before ``fit``.
        ValueError
            If X is not images of a kind ``fit`` takes (flat rows must have
            ``n_features_in_`` values).
        """
        check_is_fitted(self)
        data = check_input(self, X, reset=False, preprocess=self.preprocess_)
        device = resolve_device(self.device)
        group = resolve_distributed(self.distributed, torch.device(device))
        device = str(local_device(torch.device(device), group))
        n_samples = len(data)
        if group is not None:
            data = data.subset(np.arange(group.rank, n_samples, group.world_size))
        features = np.empty((0, self.n_features_out_), dtype=np.float32)
        if len(data):
            features = predict_batches(
                self.module_.to(device),
                data,
                _embed,
                device=device,
                batch_size=self.batch_size,
                num_workers=self.num_workers,
                autocast_dtype=autocast_dtype(self.mixed_precision, device),
            )
        if group is not None:
            features = all_gather_rows(features, n_samples, group)
        return features

    def __getstate__(self):
        # A copy: object.__getstate__ returns the instance's own __dict__.
        state = dict(super().__getstate__())
        if "module_" in state:
            # As skorch pickles its networks: the tensors in torch's format,
            # read back with map_location, so a module moved to a GPU by
            # transform loads on a machine without one.
            buffer = io.BytesIO()
            torch.save(state.pop("module_"), buffer)
            state["_module_bytes"] = buffer.getvalue()
        return state

    def __setstate__(self, state):
        module_bytes = state.pop("_module_bytes", None)
        super().__setstate__(state)
        if module_bytes is not None:
            map_location = None if torch.cuda.is_available() else "cpu"
            if map_location == "cpu" and str(self.device).startswith("cuda"):
                warnings.warn(
                    f"This PretrainedFeatures was saved with device={self.device!r}, but "
                    "CUDA is not available here; it is loaded on device='cpu'.",
                    UserWarning,
                    stacklevel=2,
                )
                self.device = "cpu"
            # The whole module was pickled with the estimator; loading it is
            # unpickling as trusted as the estimator's own pickle.
            self.module_ = torch.load(
                io.BytesIO(module_bytes), map_location=map_location, weights_only=False
            )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    def get_feature_names_out(self, input_features=None):
        """Names of the embedding dimensions.

        Parameters
        ----------
        input_features : None
            Ignored; present for API consistency.

        Returns
        -------
        names : ndarray of shape (``n_features_out_``,), dtype object
            ``"pretrainedfeatures0"``, ``"pretrainedfeatures1"``, ...
        """
        check_is_fitted(self)
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}{i}" for i in range(self.n_features_out_)], dtype=object)
