"""Docstring fragments shared by the classifiers, written once (as skorch builds its docs).

Class docstrings name the fragments they share (``{training_parameters}``,
``{input_attributes}``, ``{array_attributes}``), filled by :func:`fill_doc`.
"""

import inspect

_TRAINING_PARAMETERS = """\
lr : float, default={lr}
    Learning rate of the optimizer.
optimizer : {{"adam", "adamw", "sgd"}}, default={optimizer}
    Gradient-descent method: ``torch.optim.Adam``, ``AdamW`` or ``SGD``.
momentum : float in [0, 1], default={momentum}
    Momentum of SGD; ignored by the other optimizers.
weight_decay : float >= 0, default={weight_decay}
    L2 penalty (decoupled for AdamW).
batch_size : int, default={batch_size}
    Images per gradient step and per prediction batch.
{max_epochs_doc}
early_stopping : bool, default={early_stopping}
    Hold out ``validation_fraction`` of the training data (stratified),
    stop when the validation loss has not improved for ``n_iter_no_change``
    epochs and restore the weights of the best epoch. A validation set
    passed to ``fit`` as ``X_val``, ``y_val`` is watched instead.
validation_fraction : float in (0, 1), default={validation_fraction}
    Share of the training data held out for early stopping when ``fit``
    gets no ``X_val``.
n_iter_no_change : int, default={n_iter_no_change}
    Epochs without improvement of the validation loss before stopping.
augment : None, {{"light", "standard", "strong"}}, callable or torchvision v2 transform, \
default={augment}
    Augmentation of training batches only (never validation or prediction),
    image by image. "light": random translation by up to 1/8 of each side
    (reflection padding and ``RandomCrop``); "standard": light plus Cutout
    (``RandomErasing``, p=0.5, 2-12% of the area); "strong":
    ``RandomResizedCrop`` (scale 0.5-1), ``RandomRotation`` (15 degrees) and
    ``RandomErasing``. Presets add ``RandomHorizontalFlip`` when
    ``horizontal_flip``. A ``torchvision.transforms.v2`` transform or any
    callable is applied as given to each (n_channels, height, width) image
    tensor, in the input dtype, and must return a tensor of the same shape.
horizontal_flip : bool, default={horizontal_flip}
    Whether the presets flip images left-right; switch it off for digits and
    text. Single-channel images one pixel high, as the rows of a 2-D X are
    read without ``image_shape``, are never flipped: reversing a row of
    features mirrors no picture.
mixup : float >= 0, default={mixup}
    Alpha of ``torchvision.transforms.v2.MixUp`` on training batches (Zhang et
    al., 2018); 0 disables it.
cutmix : float >= 0, default={cutmix}
    Alpha of ``torchvision.transforms.v2.CutMix`` (Yun et al., 2019); with
    ``mixup`` too, one of the two is drawn per batch.
class_weight : dict, "balanced" or None, default={class_weight}
    Weights of the classes in the loss, as in scikit-learn: a dict maps
    labels to weights, "balanced" uses ``n_samples / (n_classes *
    np.bincount(y))``. Multiplies ``sample_weight``.
label_smoothing : float in [0, 1), default={label_smoothing}
    Label smoothing of the cross-entropy (Szegedy et al., 2016).
lr_schedule : {{"cosine", "onecycle", "plateau"}} or None, default={lr_schedule}
    Learning-rate schedule, through skorch's ``LRScheduler`` on torch's
    schedulers: "cosine" (``CosineAnnealingLR`` per epoch), "onecycle"
    (``OneCycleLR`` per batch, peaking at ``lr``), "plateau"
    (``ReduceLROnPlateau`` by 0.2 on the validation loss when there is
    validation data, else the training loss). None keeps ``lr`` constant.
    "cosine" decays ``lr`` to near 0 over ``max_epochs_`` epochs (Loshchilov
    and Hutter, "SGDR", ICLR 2017), so the last epochs refine what the
    first ones found. Each ``fit``, a ``warm_start`` one too, runs the
    whole schedule over its own ``max_epochs_`` and images; each
    ``partial_fit`` call trains its one epoch at the rate the schedule
    starts from (``lr`` for "cosine" without warm-up).
warmup_epochs : int, default={warmup_epochs}
    Epochs of linear warm-up (``LinearLR``) before the schedule; for
    "onecycle", the share of the rise. Not supported with "plateau".
tta : {{"flip", "crop", "flip_crop"}} or None, default={tta}
    Test-time augmentation: ``predict_proba`` averages the softmax over the
    image and its horizontal mirror ("flip"), four copies shifted by 1/8 of
    the side ("crop"), or both (10 views). Not applied to single-channel
    images one pixel high, as the rows of a 2-D X are read without
    ``image_shape``: those are features, not pictures. Views the network
    was not trained on can cost accuracy: on Fashion-MNIST, whose shoes all
    point the same way, "flip" after a fit without flips (``augment=None``)
    scored 0.896 against 0.928 without it (12 epochs, seed 0).
warm_start : bool, default={warm_start}
    When True, ``fit`` on a fitted estimator continues training the current
    weights for ``max_epochs`` more epochs (same classes and image shape)
    instead of starting anew.
device : str, default={device}
    Torch device: "cpu", "cuda", "cuda:<index>" or "mps"; "auto" picks
    CUDA when available, then MPS, then the CPU. Checked in ``fit``: a
    device this machine lacks is an error that says what to install or
    pass.
random_state : int, RandomState instance or None, default={random_state}
    Seeds weight initialization, shuffling and the validation split. The
    same int gives identical weights and predictions on the CPU. The global
    torch RNG of the caller is left as it was.
verbose : int, default={verbose}
    0 is silent. 1 prints skorch's progress bar and per-epoch table when the
    output is a terminal, and one plain line per epoch otherwise. 2 always
    prints one plain line per epoch (epoch, train loss, validation loss and
    accuracy when there is validation data, seconds), as Keras does.
callbacks : list of skorch callbacks or (name, callback) tuples, default={callbacks}
    Extra skorch callbacks (``skorch.callbacks``), for example ``Checkpoint``
    or ``LRScheduler``. Each fit uses fresh deep copies.
num_workers : int, default={num_workers}
    Worker processes of the ``torch.utils.data.DataLoader`` that decodes
    image files when X holds paths (0 decodes in the main process).
    In-memory images are batched without workers.
mixed_precision : {{"no", "bf16", "fp16"}}, default={mixed_precision}
    Arithmetic of the network in ``fit`` and ``predict``, named as in
    Hugging Face accelerate. "bf16" runs convolutions and matrix products in
    bfloat16 under ``torch.autocast`` (weights, gradients and optimizer
    state stay float32): faster on CPUs with AVX-512 BF16 or AMX and on
    recent GPUs, at a small cost in accuracy (measured in the benchmarks
    page of the documentation). Where the device lacks bfloat16 support,
    float32 is used with one warning. "fp16" runs them in float16 and
    scales the loss with ``torch.amp.GradScaler`` (steps whose gradients
    overflow are skipped): for CUDA GPUs without bfloat16; CPUs run it, but
    slower than float32.
distributed : "auto" or bool, default={distributed}
    Data-parallel training over ``torch.distributed``, for a script started
    with ``torchrun --nproc_per_node=N`` (or ``accelerate launch``) in which
    every process calls ``fit`` with the same X and y. Each process trains
    on its share of every epoch (torch's ``DistributedSampler``, reshuffled
    per epoch from ``random_state``) through ``DistributedDataParallel``,
    which averages the gradients: the global batch is ``batch_size`` times
    the number of processes. Losses and accuracies are averaged over the
    processes, so early stopping ends every process at the same epoch, and
    all end with the same weights; only rank 0 prints. "auto" trains this
    way when a launcher set ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and
    ``MASTER_PORT`` for more than one process (or a process group is
    initialized), else in this process alone; True requires a launcher;
    False never distributes. The backend is gloo on the CPU and NCCL on
    CUDA, with a 10-minute timeout: a process that fails ends the others
    with an error instead of a hang."""

_ARRAY_ATTRIBUTES = """\
n_features_in_ : int
    Values per image (height * width * n_channels) of the arrays seen in
    ``fit``; flat 2-D rows given later must have as many. Not set when
    ``fit`` saw file paths or PIL images.
feature_names_in_ : ndarray of shape (``n_features_in_``,)
    Column names, when X was a DataFrame with string column names."""

_INPUT_ATTRIBUTES = """\
classes_ : ndarray of shape (n_classes,)
    Class labels seen in ``fit``, sorted.
{array_attributes}
image_shape_ : tuple of int
    (height, width, n_channels) of the images the network takes, after any
    resize and crop.
max_epochs_ : int
    The epochs the last ``fit`` planned (early stopping may end it
    sooner): ``max_epochs``, or the number "auto" chose. ``partial_fit``
    runs one epoch and keeps the value, which sizes the ``lr_schedule``.
n_iter_ : int
    Epochs run to the end.
interrupted_epoch_ : int or None
    The epoch during which Ctrl-C (KeyboardInterrupt) stopped the last
    ``fit``, or None. The estimator then keeps the finished epochs (with
    early stopping, the weights of the best one), warns, and ``fit``
    raises the KeyboardInterrupt on, so that a search or a script stops.
history_ : skorch.history.History
    One dict per epoch with ``train_loss`` (and ``valid_loss``, ``valid_acc``
    whenever there is validation data: ``X_val`` or early stopping), ``dur``
    in seconds and per-batch records; ``history_[:, "train_loss"]`` gives a
    column."""

_MAX_EPOCHS = """\
max_epochs : int, default={max_epochs}
    Passes over the training data (fewer with early stopping)."""


def _indent(text, spaces):
    pad = " " * spaces
    return "\n".join(pad + line if line else line for line in text.splitlines())


def fill_doc(cls):
    """Class decorator: fill the shared fragments named in ``cls``'s docstring.

    ``{training_parameters}`` (the parameters of
    :class:`~sk_imgcls._base.BaseImageClassifier`, with the defaults of
    ``cls.__init__``, so the docs cannot drift from the code),
    ``{input_attributes}`` (the fitted attributes of the classifiers) and
    ``{array_attributes}`` (``n_features_in_``, ``feature_names_in_``).
    Other braces in the docstring are doubled. A class may describe
    ``max_epochs`` its own way in a ``_max_epochs_doc`` attribute.
    """
    defaults = {
        name: f'"{param.default}"' if isinstance(param.default, str) else repr(param.default)
        for name, param in inspect.signature(cls.__init__).parameters.items()
        if param.default is not inspect.Parameter.empty
    }
    training = ""
    if "{training_parameters}" in cls.__doc__:
        max_epochs = getattr(cls, "_max_epochs_doc", _MAX_EPOCHS).format_map(defaults)
        training = _TRAINING_PARAMETERS.format_map({**defaults, "max_epochs_doc": max_epochs})
    cls.__doc__ = cls.__doc__.format(
        training_parameters=_indent(training, 4),
        input_attributes=_indent(_INPUT_ATTRIBUTES.format(array_attributes=_ARRAY_ATTRIBUTES), 4),
        array_attributes=_indent(_ARRAY_ATTRIBUTES, 4),
    )
    return cls
