"""The paper's image model (section 5.2) and parameter matching of NODE/ANODE pairs.

The model is a :class:`ConvVectorField` on ``c + p`` channels inside an
:class:`AugmentedNeuralODE` (dopri5, tolerance 1e-3, adjoint gradients), followed by a
linear readout of the flattened final state (added by the training module).
"""

from __future__ import annotations

from ..._model import AugmentedNeuralODE
from ..._validation import check_non_negative_int, check_positive_float, check_positive_int
from ..._vector_fields import ConvVectorField

__all__ = ["conv_ode", "count_image_parameters", "match_num_filters"]


def conv_ode(
    in_channels: int,
    num_filters: int,
    *,
    augment_dims: int = 0,
    time_dependent: bool = True,
    activation: str = "relu",
    solver: str = "dopri5",
    tol: float = 1e-3,
    sensitivity: str = "adjoint",
    backend: str = "torchdiffeq",
) -> AugmentedNeuralODE:
    """The paper's image ODE block: ``ConvVectorField`` on ``in_channels + augment_dims``.

    The defaults follow the paper and its reference code: dopri5 with ``atol = rtol =
    tol`` for the forward and the adjoint solve, gradients by the adjoint method of
    torchdiffeq, ReLU, a time-dependent field and no downsampling.

    Args:
        in_channels: channels ``c`` of the images.
        num_filters: filters of the field's two hidden convolutions.
        augment_dims: zero channels ``p`` added; 0 gives a plain NODE.
        time_dependent: whether the field sees ``t`` as an extra channel.
        activation: the field's activation (see ``ACTIVATIONS``).
        solver: solver name (see ``SOLVERS[backend]``).
        tol: absolute and relative tolerance of both solves.
        sensitivity: ``'adjoint'`` or ``'autograd'``.
        backend: a name from ``BACKENDS``; ``'torchdiffeq'`` is the reference code's.

    Shape:
        - input: ``[batch, c, h, w]``; features: ``[batch, c + p, h, w]``.

    Example:
        >>> ode = conv_ode(1, 8, augment_dims=2)
        >>> ode.features(torch.rand(4, 1, 8, 8)).shape
        torch.Size([4, 3, 8, 8])
    """
    in_channels = check_positive_int("in_channels", in_channels)
    augment_dims = check_non_negative_int("augment_dims", augment_dims)
    tol = check_positive_float("tol", tol)
    field = ConvVectorField(
        in_channels + augment_dims,
        num_filters,
        time_dependent=time_dependent,
        activation=activation,
    )
    return AugmentedNeuralODE(
        field,
        augment_dims=augment_dims,
        solver=solver,
        atol=tol,
        rtol=tol,
        atol_adjoint=tol,
        rtol_adjoint=tol,
        sensitivity=sensitivity,
        backend=backend,
    )


def count_image_parameters(
    num_filters: int,
    *,
    in_channels: int,
    augment_dims: int,
    height: int,
    width: int,
    num_classes: int,
    time_dependent: bool = True,
    include_readout: bool = True,
) -> int:
    """Parameters of the image model: the ODE block's field plus the linear readout.

    Args:
        num_filters: filters of the field's hidden convolutions.
        in_channels: image channels ``c``.
        augment_dims: augmented channels ``p``.
        height: image height.
        width: image width.
        num_classes: outputs of the readout.
        time_dependent: whether each convolution has one extra input channel for ``t``.
        include_readout: count the readout ``Linear((c + p) * h * w, num_classes)``.

    Example:
        >>> count_image_parameters(
        ...     64, in_channels=1, augment_dims=5, height=28, width=28, num_classes=10
        ... )
        85462
    """
    f = check_positive_int("num_filters", num_filters)
    c = check_positive_int("in_channels", in_channels) + check_non_negative_int(
        "augment_dims", augment_dims
    )
    h, w = check_positive_int("height", height), check_positive_int("width", width)
    k = check_positive_int("num_classes", num_classes)
    t = int(bool(time_dependent))
    field = (c + t) * f + f  # 1x1 conv
    field += (f + t) * f * 9 + f  # 3x3 conv
    field += (f + t) * c + c  # 1x1 conv back to c + p channels
    readout = c * h * w * k + k if include_readout else 0
    return field + readout


def match_num_filters(
    budget: int,
    *,
    in_channels: int,
    augment_dims: int,
    height: int,
    width: int,
    num_classes: int,
    time_dependent: bool = True,
    include_readout: bool = True,
    max_filters: int = 4096,
) -> int:
    """The filter count whose image model has the parameter count closest to ``budget``.

    Used to give a NODE (``augment_dims=0``) as many parameters as an ANODE, as the
    paper does: with the budget of the paper's MNIST ANODE (64 filters, ``p=5``:
    85,462 parameters, which the paper rounds to 84k) the NODE gets 92 filters.
    Ties go to the smaller count.

    Args:
        budget: target number of parameters.
        in_channels: image channels ``c``.
        augment_dims: augmented channels ``p``.
        height: image height.
        width: image width.
        num_classes: outputs of the readout.
        time_dependent: as in :func:`count_image_parameters`.
        include_readout: as in :func:`count_image_parameters`.
        max_filters: largest filter count considered.

    Raises:
        ValueError: ``budget`` is below the count with one filter.

    Example:
        >>> match_num_filters(
        ...     85_462, in_channels=1, augment_dims=0, height=28, width=28, num_classes=10
        ... )
        92
    """
    budget = check_positive_int("budget", budget)
    max_filters = check_positive_int("max_filters", max_filters)

    def count(f: int) -> int:
        return count_image_parameters(
            f,
            in_channels=in_channels,
            augment_dims=augment_dims,
            height=height,
            width=width,
            num_classes=num_classes,
            time_dependent=time_dependent,
            include_readout=include_readout,
        )

    if budget < count(1):
        raise ValueError(
            f"`budget`={budget} is below the {count(1)} parameters of the model with one "
            f"filter (in_channels={in_channels}, augment_dims={augment_dims}, "
            f"{height}x{width}, num_classes={num_classes}, include_readout={include_readout})."
        )
    # The count grows with the filters, so a bisection finds the last count <= budget.
    lo, hi = 1, max_filters
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count(mid) <= budget:
            lo = mid
        else:
            hi = mid - 1
    if lo < max_filters and count(lo + 1) - budget < budget - count(lo):
        return lo + 1
    return lo
