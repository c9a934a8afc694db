"""Grad-CAM heatmaps drawn over the images they explain."""


import numpy as np

from ._grad_cam import grad_cam
from ._grid import grid_axes
from ._optional import import_pyplot
from ._source import displayable, source_images


class GradCAMDisplay:
    """Grad-CAM heatmaps overlaid on their images, in a grid.

    Build it with :meth:`from_estimator`, which runs :func:`grad_cam`, or
    from images and heatmaps with the constructor and :meth:`plot`.

    Parameters
    ----------
    images : list of ndarray of shape (height, width, n_channels)
        The images, channels last, uint8 or floats (drawn scaled to [0, 1]).
    heatmaps : list of ndarray of shape (height, width)
        One heatmap in [0, 1] per image, of the image's size.
    titles : list of str or None, default=None
        A title per image.

    Attributes
    ----------
    figure_ : matplotlib.figure.Figure
        The figure drawn into.
    ax_ : ndarray of matplotlib.axes.Axes
        One axes per image (flattened).

    See Also
    --------
    grad_cam : The heatmaps.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_imgcls import CNNClassifier
    >>> from sk_imgcls.inspection import GradCAMDisplay
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randint(0, 256, size=(8, 20, 20)).astype(np.uint8)
    >>> clf = CNNClassifier(max_epochs=1, random_state=0).fit(X, [0, 1] * 4)
    >>> display = GradCAMDisplay.from_estimator(clf, X[:3])
    >>> display.ax_.shape
    (3,)
    """

    def __init__(self, images, heatmaps, *, titles=None):
        self.images = images
        self.heatmaps = heatmaps
        self.titles = titles

    @classmethod
    def from_estimator(
        cls, estimator, X, target=None, *, layer=None, ax=None, n_cols=None, alpha=0.5
    ):
        """Compute the Grad-CAM heatmaps of ``X`` and draw them over the images.

        Each image is titled with its predicted label (and the label
        explained, when ``target`` differs from it).

        Parameters
        ----------
        estimator : CNNClassifier or TransferClassifier
            Fitted.
        X : array-like, list of paths or list of PIL images
            Images, as :func:`grad_cam` takes them.
        target : label, array-like of shape (n_samples,) or None, default=None
            Class explained; None: the predicted class.
        layer : str or None, default=None
            Layer of the network; see :func:`grad_cam`.
        ax : array-like of matplotlib.axes.Axes or None, default=None
            At least n_samples axes; None makes a new figure.
        n_cols : int or None, default=None
            Columns of the new grid; None for about a square.
        alpha : float in [0, 1], default=0.5
            Opacity of the heatmap.

        Returns
        -------
        display : GradCAMDisplay
        """
        import_pyplot("GradCAMDisplay")
        heatmaps = grad_cam(estimator, X, target, layer=layer)
        images = source_images(estimator, X, range(len(heatmaps)))
        predicted = estimator.predict(X)
        targets = predicted if target is None else np.broadcast_to(
            np.asarray(target, dtype=object), predicted.shape
        )
        titles = [
            f"predicted {p}" + ("" if t == p else f"\nexplaining {t}")
            for p, t in zip(predicted, targets)
        ]
        return cls(images, list(heatmaps), titles=titles).plot(ax=ax, n_cols=n_cols, alpha=alpha)

    def plot(self, *, ax=None, n_cols=None, alpha=0.5, cmap="jet"):
        """Draw each image with its heatmap on top.

        Parameters
        ----------
        ax : array-like of matplotlib.axes.Axes or None, default=None
            At least as many axes as images; None makes a new figure.
        n_cols : int or None, default=None
            Columns of the new grid; None for about a square.
        alpha : float in [0, 1], default=0.5
            Opacity of the heatmap.
        cmap : str, default="jet"
            Colormap of the heatmap.

        Returns
        -------
        display : GradCAMDisplay
            With ``figure_`` and ``ax_`` set.
        """
        plt = import_pyplot("GradCAMDisplay")
        n_images = len(self.images)
        figure, axes = grid_axes(plt, n_images, ax=ax, n_cols=n_cols)
        for i, (axis, image, heatmap) in enumerate(zip(axes, self.images, self.heatmaps)):
            pixels, gray = displayable(image)
            axis.imshow(pixels, cmap=gray)
            axis.imshow(heatmap, cmap=cmap, alpha=alpha, vmin=0, vmax=1)
            if self.titles is not None:
                axis.set_title(self.titles[i], fontsize=9)
            axis.axis("off")
        self.figure_, self.ax_ = figure, axes[:n_images]
        return self
