"""The grid of axes the image displays draw into."""

import math

import numpy as np


def grid_axes(plt, n_images, *, ax=None, n_cols=None, row_height=3.0):
    """A figure and one axis per image: a new, about square grid, or the user's axes.

    Parameters
    ----------
    plt : module
        ``matplotlib.pyplot``.
    n_images : int
        Images to draw.
    ax : array-like of matplotlib.axes.Axes or None, default=None
        At least ``n_images`` axes; None makes a new figure.
    n_cols : int or None, default=None
        Columns of a new grid; None for about a square.
    row_height : float, default=3.0
        Height of a row of a new grid, in inches (columns are 3 inches wide).

    Returns
    -------
    figure : matplotlib.figure.Figure
    axes : ndarray of matplotlib.axes.Axes of shape (n_axes,)
        The axes beyond ``n_images`` of a new grid are removed.

    Raises
    ------
    ValueError
        If ``ax`` holds fewer axes than images.
    """
    if ax is None:
        n_cols = n_cols or math.ceil(math.sqrt(n_images))
        n_rows = math.ceil(n_images / n_cols)
        figure, axes = plt.subplots(
            n_rows, n_cols, figsize=(3 * n_cols, row_height * n_rows), squeeze=False
        )
        axes = axes.ravel()
        for extra in axes[n_images:]:
            extra.remove()
        return figure, axes
    axes = np.asarray(ax, dtype=object).ravel()
    if len(axes) < n_images:
        raise ValueError(f"ax holds {len(axes)} axes for {n_images} images.")
    return axes[0].figure, axes
