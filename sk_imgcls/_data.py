"""Datasets and batch iteration for training: in-memory tensors or image files."""

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from ._image_io import open_image, read_image_size



class ImagePathDataset(Dataset):
    """Images decoded from files one at a time, for streaming through a DataLoader.

    Parameters
    ----------
    paths : ndarray of shape (n_samples,)
        Image file paths.
    y : ndarray of shape (n_samples,) or None
        Integer class indices; a placeholder 0 is returned when None.
    size : tuple of int or None
        (height, width) every image is resized to when decoded, in pixels;
        None keeps each file's size (then ``transform`` must make them equal).
    mode : {"RGB", "L"}, default="RGB"
        Pillow mode the images are converted to.
    interpolation : str, default="bilinear"
        Resampling filter for the resize.
    transform : callable or None, default=None
        Applied to each decoded (height, width, n_channels) uint8 tensor;
        returns a tensor of a fixed shape.
    sample_weight : ndarray of shape (n_samples,) or None, default=None
        When given, items are ``({"X": image, "sample_weight": weight}, label)``.

    Notes
    -----
    Items are ``(image, label)`` with ``image`` a uint8 tensor of shape
    (height, width, n_channels): the networks standardize per batch, so
    workers ship four times fewer bytes than float32 would take.
    """

    def __init__(
        self,
        paths,
        y=None,
        *,
        size,
        mode="RGB",
        interpolation="bilinear",
        transform=None,
        sample_weight=None,
    ):
        self.paths = paths
        self.y = y
        self.size = size
        self.mode = mode
        self.interpolation = interpolation
        self.transform = transform
        self.sample_weight = sample_weight

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        image = open_image(
            self.paths[i], mode=self.mode, size=self.size, interpolation=self.interpolation
        )
        image = torch.from_numpy(image)
        if self.transform is not None:
            image = self.transform(image)
        label = 0 if self.y is None else self.y[i]
        if self.sample_weight is not None:
            return {"X": image, "sample_weight": float(self.sample_weight[i])}, label
        return image, label


def common_image_size(paths, max_listed=5):
    """Return the (height, width) shared by every file, or raise listing the sizes found.

    Raises
    ------
    ValueError
        If the files do not all have the same size.
    """
    sizes = {}
    for path in paths:
        sizes.setdefault(read_image_size(path), path)
    if len(sizes) > 1:
        found = ", ".join(f"{h}x{w} ({p})" for (h, w), p in list(sizes.items())[:max_listed])
        raise ValueError(
            f"The images have {len(sizes)} different sizes (height x width), e.g. "
            f"{found}; set image_size=(height, width) to resize them all."
        )
    return next(iter(sizes))


def _unwrap(dataset):
    """Return (base dataset, indices into it or None) through nested Subsets."""
    indices = None
    while isinstance(dataset, Subset):
        step = np.asarray(dataset.indices)
        indices = step if indices is None else step[indices]
        dataset = dataset.dataset
    return dataset, indices


def _index(data, idx):
    if isinstance(data, dict):
        return {key: value[idx] for key, value in data.items()}
    return data[idx]


class BatchLoader:
    """Mini-batches for skorch, without per-sample indexing of in-memory tensors.

    skorch calls ``BatchLoader(dataset, batch_size=..., shuffle=...)``. For a
    skorch ``Dataset`` over tensors (or a ``Subset`` of one, as made by the
    validation split), each batch is one gather of the tensors: no
    ``__getitem__`` per sample and no collation. Any other dataset, such as
    :class:`ImagePathDataset`, goes through a ``torch.utils.data.DataLoader``
    with ``num_workers`` processes, visiting the samples in the same order.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        skorch's dataset, a Subset of it, or a map-style dataset.
    batch_size : int
        Samples per batch; the last batch may be smaller.
    shuffle : bool, default=False
        Draw a new permutation each epoch from torch's global RNG (seeded by
        the estimator's ``random_state``).
    num_workers : int, default=0
        DataLoader worker processes for datasets that are not in memory.
    """

    def __init__(self, dataset, batch_size, shuffle=False, num_workers=0):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.num_workers = num_workers

    def __len__(self):
        return (len(self.dataset) + self.batch_size - 1) // self.batch_size

    def _batches(self):
        n = len(self.dataset)
        order = torch.randperm(n) if self.shuffle else torch.arange(n)
        return order.split(self.batch_size)

    def __iter__(self):
        base, indices = _unwrap(self.dataset)
        X = getattr(base, "X", None)
        in_memory = isinstance(X, torch.Tensor) or (
            isinstance(X, dict) and all(isinstance(v, torch.Tensor) for v in X.values())
        )
        if not in_memory:
            # Its own generator: a DataLoader draws worker seeds from the
            # global RNG, which would shift the seeded stream of the
            # shuffling away from what in-memory training sees.
            yield from DataLoader(
                self.dataset,
                batch_sampler=[b.tolist() for b in self._batches()],
                num_workers=self.num_workers,
                generator=torch.Generator(),
            )
            return
        y = base.y
        if y is not None and not isinstance(y, torch.Tensor):
            y = torch.as_tensor(y)
        if indices is None and not self.shuffle:
            # Sequential pass (prediction): slices are views, nothing is copied.
            for start in range(0, len(self.dataset), self.batch_size):
                idx = slice(start, start + self.batch_size)
                yb = torch.zeros(len(range(*idx.indices(len(self.dataset))))) if y is None else y[idx]
                yield _index(X, idx), yb
            return
        indices = None if indices is None else torch.as_tensor(indices)
        for batch in self._batches():
            idx = batch if indices is None else indices[batch]
            Xb = _index(X, idx)
            yb = torch.zeros(len(idx)) if y is None else y[idx]
            yield Xb, yb
