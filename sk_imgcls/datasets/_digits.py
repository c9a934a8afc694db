"""scikit-learn's handwritten digits, as images."""

from numbers import Integral

from sklearn.datasets import load_digits
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval, validate_params


@validate_params(
    {
        "n_class": [Interval(Integral, 1, 10, closed="both")],
        "return_X_y": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_digits_images(*, n_class=10, return_X_y=False):
    """Load scikit-learn's handwritten digits as 8x8 images.

    The data of :func:`sklearn.datasets.load_digits` with the images, not the
    flattened rows, as X: 1797 grayscale images of 8x8 pixels, 10 classes.

    Parameters
    ----------
    n_class : int in [1, 10], default=10
        Number of classes (digits 0 to ``n_class - 1``) to return.
    return_X_y : bool, default=False
        Return ``(images, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        images : ndarray of shape (n_samples, 8, 8), dtype float64
            The images, one row of pixels after the other; each pixel is
            an integer count in [0, 16] stored as a float, as in
            scikit-learn.
        target : ndarray of shape (n_samples,), dtype int64
            The digit of each image.
        target_names : ndarray of shape (n_class,)
            The digits ``0 .. n_class - 1``.
        DESCR : str
            scikit-learn's description of the dataset.

    (images, target) : tuple
        Only when ``return_X_y`` is True.

    See Also
    --------
    sklearn.datasets.load_digits : The same data as flat rows of 64 features.
    fetch_fashion_mnist : 70,000 grayscale 28x28 images of clothing.

    Notes
    -----
    The UCI ML hand-written digits dataset (Alpaydin and Kaynak, 1998), as
    shipped with scikit-learn: no download. ``n_samples`` is 1797 for
    ``n_class=10``. Images are 2-D (grayscale, no channel axis), which the
    classifiers of sk_imgcls accept as ``(n_samples, height, width)``.

    Examples
    --------
    >>> from sk_imgcls.datasets import load_digits_images
    >>> images, target = load_digits_images(return_X_y=True)
    >>> images.shape, target.shape
    ((1797, 8, 8), (1797,))
    >>> images.min(), images.max()
    (np.float64(0.0), np.float64(16.0))
    >>> load_digits_images(n_class=2).images.shape
    (360, 8, 8)
    """
    digits = load_digits(n_class=n_class)
    if return_X_y:
        return digits.images, digits.target
    return Bunch(
        images=digits.images,
        target=digits.target,
        target_names=digits.target_names,
        DESCR=digits.DESCR,
    )
