"""The preprocessing of the estimators and transformers as exportable torch modules.

``torch.onnx.export`` traces these modules into one ONNX graph with the
network. Each computes, in ops that ONNX expresses, the same pixels as the
eager code. torchvision's antialiased ``resize`` is rewritten as two matrix
products with the filter weights of ATen's separable kernel
(``_compute_index_ranges_weights`` in ``aten/src/ATen/native/cpu/UpSampleKernel.cpp``,
Pillow's algorithm), computed in the graph from the input's height and width:
for uint8 images the weights are rounded to ATen's int16 fixed point and each
pass is rounded back to uint8, as its AVX kernel does, so the resized pixels
are bit-identical; float images agree to float32 rounding. ONNX's own
``Resize(antialias=1)`` uses other fixed-point weights (and bicubic
coefficients), hence the rewrite.

Sizes are Python ints, or symbolic ints while ``torch.export`` traces a graph
with a dynamic height and width; every size computation is integer
arithmetic on them, so it is the same in the graph as in Python.
"""

import torch
from torch import nn

from ._augment import tta_views
from ._input import is_feature_rows

# Pillow's and ATen's bicubic coefficient for antialiased resizing (Keys,
# 1981); ATen's resize without antialiasing uses -0.75.
_CUBIC_A = -0.5
_INT16_LIMIT = 1 << 15
_MAX_PRECISION = 22


def _filter(x, interpolation):
    x = x.abs()
    if interpolation == "bilinear":
        return (1 - x).clamp(min=0)
    a = _CUBIC_A
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return torch.where(x < 1, near, torch.where(x < 2, far, torch.zeros_like(x)))


def _weights(n_in, n_out, interpolation, dtype):
    """Antialiased resampling weights (n_out, n_in): ``out = weights @ in`` along one axis.

    As ATen with ``antialias=True`` and half-pixel centers: the filter is
    stretched by the downscaling factor, truncated to ATen's support, and each
    row normalized to sum 1.
    """
    half_support = 1.0 if interpolation == "bilinear" else 2.0
    n_in_t = torch.full((1,), n_in, dtype=dtype)
    scale = n_in_t / torch.full((1,), n_out, dtype=dtype)
    downscale = scale >= 1
    support = torch.where(downscale, half_support * scale, torch.full_like(scale, half_support))
    inverse = torch.where(downscale, 1 / scale, torch.ones_like(scale))
    center = scale * (torch.arange(n_out, dtype=dtype) + 0.5)
    first = torch.clamp(torch.trunc(center - support + 0.5), min=0)
    stop = torch.minimum(torch.trunc(center + support + 0.5), n_in_t)
    j = torch.arange(n_in, dtype=dtype).view(1, -1)
    inside = (j >= first.view(-1, 1)) & (j < stop.view(-1, 1))
    weights = _filter((j - center.view(-1, 1) + 0.5) * inverse, interpolation) * inside
    total = weights.sum(dim=1, keepdim=True)
    nonzero = total != 0
    return torch.where(nonzero, weights / torch.where(nonzero, total, torch.ones_like(total)), weights)


def _fixed_point(weights):
    """ATen's int16 form of one uint8 pass: integer weights and their precision in bits.

    The precision is the largest number of bits (at most 22) that keeps the
    largest weight of the whole axis below 2**15; weights are rounded half
    away from zero. Both are float64 tensors.
    """
    bits = torch.arange(_MAX_PRECISION, dtype=torch.float64)
    fits = torch.floor(0.5 + weights.max() * torch.exp2(bits + 1)) < _INT16_LIMIT
    precision = fits.sum().to(torch.float64)
    scaled = weights * torch.exp2(precision)
    return torch.trunc(torch.where(scaled < 0, scaled - 0.5, scaled + 0.5)), precision


def _round_pass(sums, precision):
    """``(sums + 2**(p-1)) >> p`` clamped to [0, 255]: exact on float64 integers."""
    return torch.floor((sums + torch.exp2(precision - 1)) / torch.exp2(precision)).clamp(0, 255)


def resize(chw, size, interpolation, *, crop=None):
    """torchvision's ``resize(chw, size, antialias=True)`` then optionally ``center_crop``.

    Parameters
    ----------
    chw : torch.Tensor of shape (n, C, H, W)
        uint8 or float images.
    size : tuple of (int, int)
        (height, width) of the resized images (ints or symbolic ints).
    interpolation : {"bilinear", "bicubic"}
    crop : int or None
        Keep the center ``crop`` x ``crop`` square of the resized images,
        which must be at least that large (torchvision's anchor:
        ``round((size - crop) / 2)``, half to even).

    Returns
    -------
    torch.Tensor of shape (n, C, h, w) in the dtype of ``chw``.
    """
    height, width = chw.shape[-2:]
    new_height, new_width = size
    dtype = torch.float64 if chw.dtype == torch.uint8 else chw.dtype
    rows = _weights(height, new_height, interpolation, dtype)
    columns = _weights(width, new_width, interpolation, dtype)
    if chw.dtype == torch.uint8:
        rows, row_bits = _fixed_point(rows)
        columns, column_bits = _fixed_point(columns)
    if crop is not None:
        # Cropping keeps whole output rows and columns of the resampling; the
        # fixed-point precision above came from the whole axis, as in ATen.
        # Gathered by index rather than sliced, so that the crop has the
        # static size ``crop`` for the layers after it (a slice of a
        # symbolic size stays symbolic).
        keep = torch.arange(crop)
        rows = rows.index_select(0, keep + _crop_anchor(new_height, crop))
        columns = columns.index_select(0, keep + _crop_anchor(new_width, crop))
    if chw.dtype != torch.uint8:
        return rows @ (chw @ columns.T)
    # Horizontal pass, rounded to uint8, then vertical: ATen's AVX order.
    x = _round_pass(chw.to(torch.float64) @ columns.T, column_bits)
    return _round_pass(rows @ x, row_bits).to(torch.uint8)


def _crop_anchor(length, crop):
    """``int(round((length - crop) / 2))`` with round half to even, in integer arithmetic."""
    excess = length - crop
    half = excess // 2
    return half + (excess % 2) * (half % 2)


def shorter_side_size(height, width, size):
    """torchvision's output size for ``resize(image, size: int)``: the shorter side to ``size``.

    ``int(size * long / short)`` for the longer side equals the integer
    floor division, which symbolic sizes support.
    """
    short = torch.sym_min(height, width) if not isinstance(height, int) else min(height, width)
    return (size * height) // short, (size * width) // short


def crop_or_pad(chw, size):
    """torchvision's ``center_crop``: zero padding where the image is smaller, then the center."""
    for axis, target in ((2, size[0]), (3, size[1])):
        length = chw.shape[axis]
        if target > length:
            before = (target - length) // 2
            pad = [0, 0, 0, 0]
            index = 2 if axis == 2 else 0
            pad[index], pad[index + 1] = before, target - length - before
            chw = nn.functional.pad(chw, pad)
        elif target < length:
            start = _crop_anchor(length, target)
            chw = chw.narrow(axis, start, target)
    return chw


def to_images(x, flat_shape):
    """What ``check_input`` makes of an array: (n, height, width, n_channels), uint8 or float32."""
    if x.ndim == 2:
        x = x.reshape(-1, *(flat_shape or (1, x.shape[1], 1)))
    elif x.ndim == 3:
        x = x.unsqueeze(-1)
    return x if x.dtype == torch.uint8 else x.to(torch.float32)


class EstimatorPreprocessing(nn.Module):
    """An estimator's ``preprocess_`` (``Resize`` or ``BackbonePreprocessing``) on images (n, H, W, C)."""

    def __init__(self, preprocess):
        super().__init__()
        self.size = getattr(preprocess, "size", None)
        self.crop = getattr(preprocess, "crop", None)
        self.shorter = getattr(preprocess, "resize", None)
        interpolation = getattr(preprocess, "interpolation", "bilinear")
        self.interpolation = getattr(interpolation, "value", interpolation)

    def forward(self, images):
        if self.crop is not None:
            if images.shape[-1] == 1:
                images = images.expand(-1, -1, -1, 3)
            elif images.shape[-1] == 4:
                images = images[..., :3]
        chw = images.permute(0, 3, 1, 2)
        height, width = chw.shape[-2:]
        if self.crop is None:
            chw = resize(chw, self.size, self.interpolation)
        else:
            size = shorter_side_size(height, width, self.shorter)
            chw = resize(chw, size, self.interpolation, crop=self.crop)
        return chw.permute(0, 2, 3, 1)


class ClassifierGraph(nn.Module):
    """Input as ``predict`` takes it to (class index int64, probabilities float32).

    The steps of ``predict_proba``: the input layout, the estimator's
    preprocessing, the ``tta`` views, softmax averaged in float64 and
    renormalized; the index is the argmax of those float64 probabilities.
    """

    def __init__(self, steps, flat_shape, preprocess, module, tta):
        super().__init__()
        self.steps = nn.ModuleList(steps)
        self.flat_shape = flat_shape
        self.preprocess = preprocess
        self.module = module
        self.tta = tta

    def forward(self, x):
        for step in self.steps:
            x = step(x)
        images = to_images(x, self.flat_shape)
        # As predict_proba: rows of features (2-D input read as single-channel
        # images one pixel high) get no test-time views. Decided on the
        # traced input's rank and static row shape, not on dynamic sizes.
        rows = x.ndim == 2 and (self.flat_shape is None or is_feature_rows(self.flat_shape))
        if self.preprocess is not None:
            images = self.preprocess(images)
        views = [images] if self.tta is None or rows else tta_views(images, self.tta)
        # One pass over all views stacked on the batch axis: one copy of the
        # network in the graph.
        logits = self.module(torch.cat(views))
        probas = torch.softmax(logits, dim=1).to(torch.float64)
        proba = probas.reshape(len(views), -1, probas.shape[1]).mean(dim=0)
        proba = proba / proba.sum(dim=1, keepdim=True)
        return proba.argmax(dim=1), proba.to(torch.float32)


class FeaturesGraph(nn.Module):
    """Input as ``transform`` takes it to the float32 features of ``PretrainedFeatures``."""

    def __init__(self, steps, preprocess, module):
        super().__init__()
        self.steps = nn.ModuleList(steps)
        self.preprocess = preprocess
        self.module = module

    def forward(self, x):
        for step in self.steps:
            x = step(x)
        return self.module(self.preprocess(to_images(x, None)))


class TransformerStep(nn.Module):
    """One of the package's image transformers, as its ``transform`` computes it.

    Parameters
    ----------
    transformer : ImageReshaper, Flatten, Resize, CenterCrop, Grayscale or Rescale
        Fitted.
    """

    def __init__(self, transformer):
        super().__init__()
        self.kind = type(transformer).__name__
        self.params = transformer.get_params()

    def forward(self, x):
        kind, params = self.kind, self.params
        if kind == "ImageReshaper":
            if x.ndim == 2:
                shape = params["image_shape"] or (1, x.shape[1])
                return x.reshape(-1, *shape)
            return x
        if kind == "Flatten":
            return x.reshape(x.shape[0], -1)
        if kind == "Rescale":
            return x.to(torch.float32) * (1.0 / 255) if x.dtype == torch.uint8 else x.to(torch.float32)
        input_ndim = x.ndim
        images = x.reshape(x.shape[0], 1, x.shape[1], 1) if x.ndim == 2 else x
        images = images.unsqueeze(-1) if images.ndim == 3 else images
        chw = images.permute(0, 3, 1, 2)
        if kind == "Resize":
            size = params["size"]
            if isinstance(size, int):
                size = shorter_side_size(chw.shape[2], chw.shape[3], size)
            chw = resize(chw, tuple(size), params["interpolation"])
        elif kind == "CenterCrop":
            size = params["size"]
            chw = crop_or_pad(chw, (size, size) if isinstance(size, int) else tuple(size))
        else:  # Grayscale
            chw = _grayscale(chw, params["num_output_channels"])
        out = chw.permute(0, 2, 3, 1)
        return out[..., 0] if out.shape[-1] == 1 and input_ndim < 4 else out


def _grayscale(chw, n_out):
    """torchvision's ``rgb_to_grayscale``: BT.601 luma (float32 for integers, then truncated)."""
    if chw.shape[1] == 1:
        return chw.expand(-1, n_out, -1, -1) if n_out == 3 else chw
    work = chw.dtype if chw.dtype.is_floating_point else torch.float32
    r, g, b = chw.to(work).unbind(dim=1)
    luma = r * 0.2989 + g * 0.587 + b * 0.114
    luma = luma.unsqueeze(1).to(chw.dtype)
    return luma.expand(-1, n_out, -1, -1) if n_out == 3 else luma
