"""Train-time augmentation presets, MixUp/CutMix, and test-time views."""

import numpy as np
import torch
from torchvision.transforms import v2

PRESETS = ("light", "standard", "strong")


def _pad(size):
    """Padding of a random translation: an eighth of the side, at least 1 pixel."""
    return max(1, size // 8)


def make_augmentation(augment, image_shape, *, horizontal_flip):
    """Build the per-image transform of an ``augment`` parameter.

    Parameters
    ----------
    augment : None, {"light", "standard", "strong"} or torchvision.transforms.v2.Transform
        None: no augmentation. A preset, on an image of height H and width W:

        - "light": random translation by up to H/8 and W/8 pixels (reflection
          padding, then ``RandomCrop`` back to H x W);
        - "standard": "light", then Cutout (``RandomErasing``, p=0.5, 2-12% of
          the area);
        - "strong": ``RandomResizedCrop`` (scale 0.5-1, ratio 3/4-4/3),
          ``RandomRotation`` (+-15 degrees), then ``RandomErasing`` (p=0.5).

        Each preset adds ``RandomHorizontalFlip`` when ``horizontal_flip``.
        Any other ``v2.Transform`` is used as given.
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
        If ``augment`` is neither None, a string nor a torchvision v2 transform.
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
    if isinstance(augment, v2.Transform):
        return augment
    raise TypeError(
        "augment must be None, one of "
        f"{', '.join(map(repr, PRESETS))} or a torchvision.transforms.v2 transform; "
        f"got {augment!r} of type {type(augment).__name__}."
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


def augment_batch(images, labels, transform, mix):
    """Apply per-image ``transform`` and batch-level ``mix`` to a training batch.

    Parameters
    ----------
    images : torch.Tensor of shape (N, H, W, C)
        Channels-last batch, uint8 or float; returned in the same dtype.
    labels : torch.Tensor of shape (N,)
        Class indices.
    transform : callable or None
        Per-image transform on (C, H, W) tensors.
    mix : callable or None
        From :func:`make_batch_mix`.

    Returns
    -------
    images : torch.Tensor of shape (N, H, W, C)
    labels : torch.Tensor of shape (N,) int64 or (N, n_classes) float32
    """
    chw = images.permute(0, 3, 1, 2)
    if transform is not None:
        # Per image: a transform called on the whole batch would draw one
        # random flip or crop for all of it.
        chw = torch.stack([transform(image) for image in chw])
    if mix is not None:
        dtype = chw.dtype
        chw, labels = mix(chw.to(torch.float32), labels)
        if dtype == torch.uint8:
            chw = chw.round().clamp(0, 255).to(torch.uint8)
    return chw.permute(0, 2, 3, 1), labels


class BatchAugmentation:
    """A training-batch augmentation: per-image ``transform``, then batch ``mix``.

    A plain object rather than a ``torch.nn.Module`` so that skorch, which
    manages the modules of a net itself, holds it as an ordinary attribute.

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

    def __call__(self, images, labels):
        """Augment a batch; see :func:`augment_batch`."""
        return augment_batch(images, labels, self.transform, self.mix)


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
    return np.asarray(torch.stack(probas).mean(dim=0))
