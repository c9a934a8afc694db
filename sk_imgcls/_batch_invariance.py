"""Predictions that do not depend on the batch an image comes in.

scikit-learn's checks require ``predict(X)[mask] == predict(X[mask])`` bit for
bit, and users expect one image to be scored the same alone or in a batch.
PyTorch picks a kernel per call: for a single small image, or a 1x1 kernel on
fewer than 16 images with one thread, its native convolution rather than
oneDNN's (``ConvParams::use_mkldnn`` in ATen's ``Convolution.cpp``), and BLAS
multiplies matrices of one to a dozen rows with other kernels than larger
ones. The kernels sum in different orders, so outputs change in the last
float32 bits with the batch size. oneDNN's convolution does not depend on the
batch size, so while :func:`batch_invariant` is active, convolution and linear
layers call it for every batch.

The network itself is never changed outside that block: ``module_`` stays a
plain torch module that ``torch.jit.trace``, ``torch.export`` and ONNX export
take as it is.
"""

import contextlib
import functools
import threading
import weakref

import numpy as np
import torch
from torch import nn

from ._threads import worker_threads


@functools.cache
def _onednn_bf16():
    return torch.ops.mkldnn._is_mkldnn_bf16_supported()


def _onednn_convolution(input, weight, bias, padding, stride, dilation, groups):
    """oneDNN's convolution of a CPU batch (n, c, h, w), or None where it does not apply.

    Only with gradients off, for float32 or bfloat16 (where the CPU supports
    it), and not when oneDNN is unavailable or switched off by the user
    (``torch.backends.mkldnn.flags(enabled=False)``). Under CPU autocast the
    float32 tensors are cast as autocast casts a convolution's (autocast does
    not cover the aten op called here).
    """
    if (
        input.device.type != "cpu"
        or input.ndim != 4
        or len(input) == 0
        or torch.is_grad_enabled()
        or not (torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled)
    ):
        return None
    if torch.is_autocast_enabled("cpu"):
        dtype = torch.get_autocast_dtype("cpu")
        input, weight, bias = (
            t.to(dtype) if t is not None and t.dtype == torch.float32 else t
            for t in (input, weight, bias)
        )
    if weight.dtype != input.dtype or not (
        input.dtype == torch.float32 or (input.dtype == torch.bfloat16 and _onednn_bf16())
    ):
        return None
    return torch.ops.aten.mkldnn_convolution(
        input, weight, bias, padding, stride, dilation, groups
    )


class _OneDNNConv2d(nn.Conv2d):
    """``nn.Conv2d`` computed by oneDNN whatever the batch size, without gradients."""

    def _conv_forward(self, input, weight, bias):
        out = _onednn_convolution(
            input, weight, bias, self.padding, self.stride, self.dilation, self.groups
        )
        return super()._conv_forward(input, weight, bias) if out is None else out


class _OneDNNConv2dSame(_OneDNNConv2d):
    """timm's ``Conv2dSame`` (TensorFlow "SAME" padding) as an :class:`_OneDNNConv2d`."""

    def forward(self, input):
        from timm.layers import pad_same

        input = pad_same(input, self.weight.shape[-2:], self.stride, self.dilation)
        return self._conv_forward(input, self.weight, self.bias)


class _OneDNNLinear(nn.Linear):
    """``nn.Linear`` computed as a oneDNN 1x1 convolution on rows (..., in_features)."""

    def forward(self, input):
        out = None
        if input.ndim >= 2 and input.shape[-1] == self.in_features:
            out = _onednn_convolution(
                input.reshape(-1, self.in_features, 1, 1),
                self.weight[:, :, None, None],
                self.bias,
                (0, 0),
                (1, 1),
                (1, 1),
                1,
            )
        if out is None:
            return super().forward(input)
        return out.reshape(*input.shape[:-1], self.out_features)


# Elementwise activations built on exp, tanh or erf (or on divisions the
# compiler may fuse differently): ATen computes a tensor with its vectorized
# kernel but for the last elements of each thread's share, which take the
# scalar one, and the two differ in the last bits. Which elements fall in the
# tail depends on where an image sits in the batch: on the small pooled maps
# of squeeze-and-excitation blocks this changed whole feature vectors by
# about 3e-8 between batch orders. Applied to one image at a time, every
# image is computed alike whatever its batch. Only images of fewer than
# ATen's grain size (32,768 values) are split so: below it an elementwise op
# runs on one thread and its one tail falls in the last image, and the loop
# over images costs little; larger maps are split between threads at about
# numel / n_threads, on whole vectors when the values per image are a
# multiple of the vector width (channel counts usually are), and a loop over
# their images cost EfficientNet-B0 1.4 times its prediction time.
# ReLU-type activations are exact in both kernels and are left alone.
_ATEN_GRAIN_SIZE = 32768  # at::internal::GRAIN_SIZE
_TAIL_SENSITIVE_ACTIVATIONS = (
    nn.SiLU, nn.Sigmoid, nn.GELU, nn.Hardswish, nn.Hardsigmoid, nn.Mish, nn.Tanh, nn.ELU,
    nn.SELU, nn.CELU, nn.Softplus,
)


@functools.cache
def _per_image_class(cls):
    """A subclass of the activation class ``cls`` that applies it to one image at a time."""

    def forward(self, input):
        if (
            input.device.type != "cpu" or input.ndim < 2 or len(input) < 2
            or input[0].numel() >= _ATEN_GRAIN_SIZE or torch.is_grad_enabled()
        ):
            return cls.forward(self, input)
        out = torch.empty_like(input)  # the input's memory format (channels last)
        for image, result in zip(input, out):
            result.copy_(cls.forward(self, image))
        return out

    return type(
        f"_PerImage{cls.__name__}",
        (cls,),
        {"forward": forward, "_sk_per_image": True, "__module__": __name__,
         "__doc__": f"``{cls.__name__}`` applied to one image at a time (see _per_image_class)."},
    )


def _onednn_class(layer):
    """The batch-invariant stand-in for ``layer``'s class; None if it has none.

    A layer already inside a block is its own stand-in. Convolutions that
    pad otherwise than with zeros, or by a string, have none: oneDNN is
    called with explicit zero padding only.
    """
    cls = type(layer)
    if cls in (_OneDNNConv2d, _OneDNNConv2dSame, _OneDNNLinear):
        return cls
    if cls is nn.Linear:
        return _OneDNNLinear
    if isinstance(layer, nn.Conv2d) and (
        layer.padding_mode != "zeros" or isinstance(layer.padding, str)
    ):
        return None
    if cls is nn.Conv2d:
        return _OneDNNConv2d
    if cls.__name__ == "Conv2dSame" and cls.__module__.startswith("timm."):
        return _OneDNNConv2dSame
    return None


def _layer_changes(module):
    """``[(layer, stand-in class), ...]`` for every convolution, linear layer and
    activation of ``_TAIL_SENSITIVE_ACTIVATIONS`` in ``module``.

    None when one of them has no stand-in: one walk over the modules
    answers both what to change and whether :func:`covers` holds.
    """
    changes = []
    for layer in module.modules():
        if isinstance(layer, _TAIL_SENSITIVE_ACTIVATIONS):
            cls = type(layer)
            per_image = getattr(cls, "_sk_per_image", False)
            changes.append((layer, cls if per_image else _per_image_class(cls)))
        elif isinstance(layer, (nn.modules.conv._ConvNd, nn.Linear)):
            cls = _onednn_class(layer)
            if cls is None:
                return None
            changes.append((layer, cls))
    return changes


def covers(module):
    """Whether :func:`batch_invariant` reaches every convolution and linear layer of ``module``.

    False for networks with other convolution classes (1-D, 3-D,
    weight-standardized ones): their prediction pads short batches instead.
    """
    return _layer_changes(module) is not None


def _padded_forward(module, x, *, rows):
    """``module(x)``, with a batch of fewer than ``rows`` images padded by zero images."""
    n = len(x)
    if n >= rows:
        return module(x)
    return module(torch.cat([x, x.new_zeros((rows - n, *x.shape[1:]))]))[:n]


def _set_class(layer, cls):
    # Past nn.Module.__setattr__, which looks the name up among parameters,
    # buffers and submodules first: __class__ is none of them.
    object.__setattr__(layer, "__class__", cls)


# Networks inside a batch_invariant block, each with the number of blocks
# using it and the layers whose class was changed: threads predicting with
# the same network share one change, undone when the last one leaves.
_ACTIVE = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


@contextlib.contextmanager
def batch_invariant(module, *, device, batch_size):
    """A forward function of ``module`` whose output rows do not depend on the batch.

    On the CPU, when :func:`covers` holds, the convolution and linear layers
    (``nn.Conv2d``, ``nn.Linear``, timm's ``Conv2dSame``) compute through
    oneDNN, and activations such as SiLU and sigmoid one image at a time, for
    the duration of the block, by a change of class that adds no
    state and is undone when the block ends (parameters, buffers, hooks and
    ``state_dict`` keys never change). Otherwise (other devices or layer
    classes), short batches are padded with zero images to ``batch_size``.

    Parameters
    ----------
    module : torch.nn.Module
        In eval mode; used with gradients off.
    device : str or torch.device
        Where the module runs.
    batch_size : int
        Batch size of the padding fallback.

    Yields
    ------
    forward : callable
        Maps a batch (n, ...) to the module's output (n, ...).

    Notes
    -----
    Checked bit for bit for every batch size on this package's CNN and on
    resnet18, EfficientNet-B0, tf_efficientnet_lite0 and MobileNetV3-small,
    in float32 and bfloat16, with 1 and 2 threads. Elementwise activations
    with a vectorized and a scalar code path (SiLU, sigmoid, GELU and the
    others of ``_TAIL_SENSITIVE_ACTIVATIONS``) compute the last elements of
    each thread's share of a tensor with the scalar one, so which image gets
    the scalar path depends on its place in the batch; their modules run on
    one image at a time inside the block, so that every image takes the same
    paths (images of up to 32,768 values, such as the pooled maps of
    squeeze-and-excitation blocks; larger maps are left whole, see
    ``_TAIL_SENSITIVE_ACTIVATIONS``). The same functions called as functions
    (``x.sigmoid()`` in a ``forward``) are not reached and can still differ
    in the last bits.
    """
    with _LOCK:
        entry = _ACTIVE.get(module)
        if entry is None:
            changes = _layer_changes(module) if torch.device(device).type == "cpu" else None
            if changes is None:
                entry = None
            else:
                changed = [(layer, type(layer)) for layer, _ in changes]
                for layer, cls in changes:
                    _set_class(layer, cls)
                entry = _ACTIVE[module] = [0, changed]
        if entry is not None:
            entry[0] += 1
    if entry is None:
        yield functools.partial(_padded_forward, module, rows=batch_size)
        return
    try:
        yield module
    finally:
        with _LOCK:
            entry[0] -= 1
            if entry[0] == 0:
                for layer, cls in entry[1]:
                    _set_class(layer, cls)
                del _ACTIVE[module]


def predict_batches(
    module, data, per_batch, *, device, batch_size, num_workers=0, autocast_dtype=None
):
    """Apply ``per_batch(forward, images)`` to every batch of ``data``, batch-invariantly.

    The prediction loop of every estimator: ``module`` in eval mode, under
    ``torch.inference_mode``, :func:`batch_invariant` and, with
    ``autocast_dtype``, ``torch.autocast`` (outputs back in float32).

    Parameters
    ----------
    module : torch.nn.Module
        Maps a batch of images to outputs.
    data : sk_imgcls._input.ImageData
        Validated images.
    per_batch : callable
        ``per_batch(forward, images)`` with ``forward`` the module's
        batch-invariant forward and ``images`` a batch on ``device``;
        returns an ndarray of shape (n, ...).
    device : str or torch.device
    batch_size, num_workers : int
        Batching of ``data``.
    autocast_dtype : torch.dtype or None, default=None
        Mixed-precision dtype.

    Returns
    -------
    outputs : ndarray of shape (n_samples, ...)
        The per-batch results, concatenated.
    """
    if module.training:
        module.eval()
    outputs = []
    with worker_threads(), torch.inference_mode(), batch_invariant(
        module, device=device, batch_size=batch_size
    ) as invariant:

        def forward(images):
            if autocast_dtype is None:
                return invariant(images)
            with torch.autocast(torch.device(device).type, dtype=autocast_dtype):
                return invariant(images).float()

        for images in data.batches(batch_size, num_workers):
            outputs.append(per_batch(forward, images.to(device)))
    return np.concatenate(outputs)
