"""Train-time augmentation presets, MixUp/CutMix, and test-time views."""

import functools

import torch
from torchvision.transforms import v2

PRESETS = ("light", "standard", "strong")


def _pad(size):
    """Padding of a random translation: an eighth of the side, at least 1 pixel.

    None along a side of 1 pixel, which reflection padding cannot extend
    (and a translation of which would only repeat the pixel).
    """
    return min(max(1, size // 8), size - 1)


def make_augmentation(augment, image_shape, *, horizontal_flip):
    """Build the per-image transform of an ``augment`` parameter.

    Parameters
    ----------
    augment : None, {"light", "standard", "strong"}, callable or torchvision.transforms.v2.Transform
        None: no augmentation. A preset, on an image of height H and width W:

        - "light": random translation by up to H/8 and W/8 pixels (reflection
          padding, then ``RandomCrop`` back to H x W);
        - "standard": "light", then Cutout (``RandomErasing``, p=0.5, 2-12% of
          the area);
        - "strong": ``RandomResizedCrop`` (scale 0.5-1, ratio 3/4-4/3),
          ``RandomRotation`` (+-15 degrees), then ``RandomErasing`` (p=0.5).

        Each preset adds ``RandomHorizontalFlip`` when ``horizontal_flip``.
        A ``v2.Transform`` or any other callable is used as given.
    image_shape : tuple of int
        (height, width, n_channels) of the training images.
    horizontal_flip : bool
        Add a random horizontal flip to presets (off for digits and text).

    Returns
    -------
    transform : torchvision.transforms.v2.Transform or None
        Takes and returns one image tensor of shape (n_channels, H, W).

    Raises
    ------
    ValueError
        If ``augment`` is an unknown preset name (the valid ones are listed).
    TypeError
        If ``augment`` is neither None, a string nor a callable.
    """
    if augment is None:
        return None
    if isinstance(augment, str):
        if augment not in PRESETS:
            raise ValueError(
                f"Unknown augment preset {augment!r}; valid presets are "
                f"{', '.join(map(repr, PRESETS))}, or pass a torchvision.transforms.v2 "
                "transform."
            )
        height, width = image_shape[:2]
        steps = []
        if augment in ("light", "standard"):
            steps.append(
                v2.RandomCrop(
                    (height, width), padding=[_pad(width), _pad(height)], padding_mode="reflect"
                )
            )
        else:
            steps += [
                v2.RandomResizedCrop((height, width), scale=(0.5, 1.0), antialias=True),
                v2.RandomRotation(15),
            ]
        if horizontal_flip:
            steps.append(v2.RandomHorizontalFlip())
        if augment in ("standard", "strong"):
            steps.append(v2.RandomErasing(p=0.5, scale=(0.02, 0.12)))
        return v2.Compose(steps)
    if callable(augment):
        return augment
    raise TypeError(
        "augment must be None, one of "
        f"{', '.join(map(repr, PRESETS))} or a callable such as a torchvision.transforms.v2 "
        f"transform; got {augment!r} of type {type(augment).__name__}."
    )


def make_batch_mix(mixup, cutmix, n_classes):
    """``v2.MixUp`` / ``v2.CutMix`` (one chosen at random per batch when both are on).

    Parameters
    ----------
    mixup, cutmix : float >= 0
        Beta-distribution alpha of each; 0 disables it.
    n_classes : int
        Number of classes, for the soft labels.

    Returns
    -------
    mix : callable or None
        ``(images (N, C, H, W) float, labels (N,) int64)`` to ``(images,
        soft labels (N, n_classes))``.
    """
    mixers = []
    if mixup > 0:
        mixers.append(v2.MixUp(alpha=mixup, num_classes=n_classes))
    if cutmix > 0:
        mixers.append(v2.CutMix(alpha=cutmix, num_classes=n_classes))
    if not mixers:
        return None
    return mixers[0] if len(mixers) == 1 else v2.RandomChoice(mixers)


def _crop_batch(chw, *, size, padding, padding_mode, fill):
    """``v2.RandomCrop`` on a batch, with a crop position drawn for each image."""
    if padding is not None and any(padding):
        left, right, top, bottom = padding
        chw = v2.functional.pad(chw, [left, top, right, bottom], fill=fill, padding_mode=padding_mode)
    n, _, height, width = chw.shape
    crop_h, crop_w = size
    if height < crop_h or width < crop_w:
        raise ValueError(
            f"Required crop size {(crop_h, crop_w)} is larger than the (padded) input image "
            f"size {(height, width)}."
        )
    top = torch.randint(0, height - crop_h + 1, (n, 1, 1))
    left = torch.randint(0, width - crop_w + 1, (n, 1, 1))
    rows = top + torch.arange(crop_h).view(1, -1, 1)
    cols = left + torch.arange(crop_w).view(1, 1, -1)
    # Advanced indices around a slice put their dimensions first: (N, h, w, C).
    return chw[torch.arange(n).view(-1, 1, 1), :, rows, cols].permute(0, 3, 1, 2)


def _flip_batch(chw, *, p):
    """``v2.RandomHorizontalFlip`` on a batch, drawn for each image."""
    flip = torch.rand(len(chw)) < p
    return torch.where(flip.view(-1, 1, 1, 1), chw.flip(-1), chw)


def _erase_batch(chw, *, p, scale, ratio, value):
    """``v2.RandomErasing`` with a constant value on a batch, drawn for each image.

    As torchvision: with probability p, up to 10 draws of an area fraction in
    ``scale`` and a log-uniform aspect ratio in ``ratio``; the first rectangle
    that fits is erased, at a uniform position.
    """
    n, _, height, width = chw.shape
    attempts = 10
    area = height * width * torch.empty(n, attempts).uniform_(*scale)
    log_ratio = torch.log(torch.tensor(ratio, dtype=torch.float64))
    aspect = torch.exp(torch.empty(n, attempts, dtype=torch.float64).uniform_(*log_ratio.tolist()))
    h = torch.sqrt(area * aspect).round().long()
    w = torch.sqrt(area / aspect).round().long()
    fits = (h < height) & (w < width)
    first = fits.to(torch.int8).argmax(dim=1, keepdim=True)
    h, w = h.gather(1, first).squeeze(1), w.gather(1, first).squeeze(1)
    erase = (torch.rand(n) < p) & fits.any(dim=1)
    top = (torch.rand(n) * (height - h + 1)).long()
    left = (torch.rand(n) * (width - w + 1)).long()
    rows = torch.arange(height).view(1, -1)
    cols = torch.arange(width).view(1, -1)
    inside_rows = (rows >= top.view(-1, 1)) & (rows < (top + h).view(-1, 1))
    inside_cols = (cols >= left.view(-1, 1)) & (cols < (left + w).view(-1, 1))
    mask = inside_rows.view(n, 1, height, 1) & inside_cols.view(n, 1, 1, width)
    mask &= erase.view(-1, 1, 1, 1)
    return chw.masked_fill(mask, value)


def _batch_steps(transform):
    """The steps of ``transform`` as batch functions, or None if some step has none.

    ``RandomCrop`` (fixed padding, numeric fill), ``RandomHorizontalFlip`` and
    ``RandomErasing`` (constant value) draw their random parameters for each
    image, as when called image by image, but run as a few tensor operations
    on the whole batch: a Python call per image costs more than a small
    network's training step.
    """
    steps = transform.transforms if type(transform) is v2.Compose else [transform]
    batched = []
    for step in steps:
        if type(step) is v2.RandomHorizontalFlip:
            batched.append(functools.partial(_flip_batch, p=step.p))
        elif (
            type(step) is v2.RandomCrop
            and not step.pad_if_needed
            and isinstance(step.fill, (int, float))
        ):
            batched.append(
                functools.partial(
                    _crop_batch,
                    size=step.size,
                    padding=step.padding,
                    padding_mode=step.padding_mode,
                    fill=step.fill,
                )
            )
        elif (
            type(step) is v2.RandomErasing
            and step.value is not None
            and len(step.value) == 1
            and not step.inplace
        ):
            batched.append(
                functools.partial(
                    _erase_batch, p=step.p, scale=step.scale, ratio=step.ratio, value=step.value[0]
                )
            )
        else:
            return None
    return batched


class BatchAugmentation:
    """A training-batch augmentation: per-image ``transform``, then batch ``mix``.

    A plain object rather than a ``torch.nn.Module`` so that skorch, which
    manages the modules of a net itself, holds it as an ordinary attribute.
    The batch form of ``transform`` (see :func:`_batch_steps`) is worked out
    once, here, not for every batch: its settings (``p``, ``padding``,
    ``scale``, ...) are read when the augmentation is built, at the start of
    ``fit``.

    Parameters
    ----------
    transform : callable or None
        Per-image transform on (C, H, W) tensors.
    mix : callable or None
        From :func:`make_batch_mix`.
    """

    def __init__(self, transform, mix):
        self.transform = transform
        self.mix = mix
        self._steps = None if transform is None else _batch_steps(transform)

    def __call__(self, images, labels):
        """Augment a batch of images (N, H, W, C) and labels (N,): transform each image, then mix."""
        chw = images.permute(0, 3, 1, 2)
        if self._steps is not None:
            for step in self._steps:
                chw = step(chw)
        elif self.transform is not None:
            # Per image: a transform called on the whole batch would draw one
            # random flip or crop for all of it.
            chw = torch.stack([self.transform(image) for image in chw])
        if self.mix is not None:
            dtype = chw.dtype
            chw, labels = self.mix(chw.to(torch.float32), labels)
            if dtype == torch.uint8:
                chw = chw.round().clamp(0, 255).to(torch.uint8)
        return chw.permute(0, 2, 3, 1), labels


TTA_OPTIONS = ("flip", "crop", "flip_crop")


def tta_views(images, tta):
    """Test-time views of a batch, for averaging ``predict_proba``.

    Parameters
    ----------
    images : torch.Tensor of shape (N, H, W, C)
        Channels-last batch.
    tta : {"flip", "crop", "flip_crop"}
        "flip": the images and their horizontal mirror. "crop": the images
        and four copies shifted by an eighth of the side (reflection padding,
        then the four corner crops). "flip_crop": both, 10 views.

    Returns
    -------
    views : list of torch.Tensor of shape (N, H, W, C)
        The original batch first.
    """
    views = [images]
    if tta in ("crop", "flip_crop"):
        height, width = images.shape[1:3]
        pad_h, pad_w = _pad(height), _pad(width)
        chw = images.permute(0, 3, 1, 2)
        padded = v2.functional.pad(chw.to(torch.float32), [pad_w, pad_h], padding_mode="reflect")
        for top, left in ((0, 0), (0, 2 * pad_w), (2 * pad_h, 0), (2 * pad_h, 2 * pad_w)):
            crop = padded[:, :, top : top + height, left : left + width].to(images.dtype)
            views.append(crop.permute(0, 2, 3, 1))
    if tta in ("flip", "flip_crop"):
        views += [view.flip(2) for view in views]
    return views


def mean_proba(forward, images, tta):
    """Average softmax over the test-time views of ``images``; float64 numpy (N, n_classes).

    ``forward`` maps a batch of images to logits.
    """
    probas = [torch.softmax(forward(view), dim=1).to(torch.float64) for view in tta_views(images, tta)]
    return torch.stack(probas).mean(dim=0).cpu().numpy()
