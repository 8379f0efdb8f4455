"""Reconstruction: does integrating to ``T`` and back return the input, and at which tolerance?

The flow of an ODE is invertible, but a solve is only as invertible as it is accurate. An
independent replication of the paper (ReScience, 5 seeds) found that the trained image
models fail a forward-backward check at the paper's tolerance of 1e-3 and pass only at
1e-6 (CIFAR10) or 1e-7 (MNIST). These functions measure that: the per-sample error of
``model.inverse(model.features(x))``, at the model's tolerances or others, and the
loosest tolerance of a ladder at which it passes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from .._model import AugmentedNeuralODE
from .._reconstruction_tolerances import (
    RECONSTRUCTION_THRESHOLD,
    TOLERANCE_LADDER,
    check_ladder,
    check_threshold,
)
from ._check_args import _check_batch, _check_model, _fmt
from ._tolerances import solver_tolerances

__all__ = [
    "ReconstructionReport",
    "assert_reconstructs",
    "loosest_passing_tolerance",
    "reconstruction_error",
]


@dataclass(frozen=True)
class ReconstructionReport:
    """How far ``model.inverse(model.features(x))`` lands from ``x``, per sample.

    Errors are Euclidean norms over all of a sample's entries (``d`` or ``c * h * w``).
    The relative error divides by the sample's own norm (by machine epsilon for an
    all-zero sample, so any error shows).

    Attributes:
        relative: ``||x_rec - x|| / ||x||`` per sample, ``[batch]`` (float64, on the CPU).
        absolute: ``||x_rec - x||`` per sample, ``[batch]`` (float64, on the CPU).
        atol: the absolute solver tolerance of the two solves.
        rtol: the relative solver tolerance of the two solves.
    """

    relative: Tensor
    absolute: Tensor
    atol: float
    rtol: float

    @property
    def max(self) -> float:
        """The largest relative error (``inf`` when a reconstruction is not finite)."""
        return float(self.relative.max())

    @property
    def mean(self) -> float:
        """The mean relative error over the samples."""
        return float(self.relative.mean())

    @property
    def worst(self) -> int:
        """Index of the sample with the largest relative error."""
        return int(self.relative.argmax())

    def passes(self, threshold: float = RECONSTRUCTION_THRESHOLD) -> bool:
        """Whether every sample's relative error is below ``threshold``."""
        return self.max < check_threshold(threshold)


def reconstruction_error(
    model: AugmentedNeuralODE,
    x: Tensor,
    *,
    atol: float | None = None,
    rtol: float | None = None,
) -> ReconstructionReport:
    """Measure ``||model.inverse(model.features(x)) - x||`` per sample.

    Both solves run under ``torch.no_grad()`` and inside ``model.uncounted()``: the
    model's NFE counts are left as they were.

    Args:
        model: the model under test.
        x: inputs in the original space, ``[batch, d, ...]``.
        atol: absolute tolerance of both solves; ``None`` keeps the model's ``atol``.
        rtol: relative tolerance of both solves; ``None`` keeps the model's ``rtol``.

    Returns:
        The per-sample absolute and relative errors and the tolerances used.

    Raises:
        ValueError: for a tolerance finer than ``x``'s dtype can resolve (float32: both
            below 1.2e-9), from the model.

    Example:
        >>> import torch
        >>> from anode_plugin import AugmentedNeuralODE, MLPVectorField
        >>> model = AugmentedNeuralODE(MLPVectorField(3), augment_dims=1).double()
        >>> report = reconstruction_error(model, torch.randn(8, 2).double(), atol=1e-9, rtol=1e-9)
        >>> report.max < 1e-6
        True
    """
    model = _check_model("reconstruction_error", model)
    return _reconstruct(model, _check_batch("x", x), atol, rtol)[0]


def _reconstruct(
    model: AugmentedNeuralODE, x: Tensor, atol: float | None, rtol: float | None
) -> tuple[ReconstructionReport, Tensor]:
    """The report and the reconstructions ``[batch, d, ...]``."""
    with solver_tolerances(model, atol=atol, rtol=rtol), torch.no_grad(), model.uncounted():
        used = model.atol, model.rtol
        recovered = model.inverse(model.features(x))
    if recovered.shape != x.shape:
        raise AssertionError(
            f"inverse(features(x)) has shape {tuple(recovered.shape)}, x has shape "
            f"{tuple(x.shape)}: the inverse does not strip the augmentation."
        )
    n = x.shape[0]
    x64 = x.detach().reshape(n, -1).double().cpu()
    absolute = (recovered.detach().reshape(n, -1).double().cpu() - x64).norm(dim=1)
    absolute = absolute.nan_to_num(math.inf)
    relative = absolute / x64.norm(dim=1).clamp_min(torch.finfo(x.dtype).eps)
    return ReconstructionReport(relative, absolute, float(used[0]), float(used[1])), recovered


def loosest_passing_tolerance(
    model: AugmentedNeuralODE,
    x: Tensor,
    *,
    ladder: Sequence[float] = TOLERANCE_LADDER,
    threshold: float = RECONSTRUCTION_THRESHOLD,
) -> float | None:
    """The loosest tolerance of ``ladder`` at which every sample reconstructs.

    Tries the tolerances loosest first, setting ``atol = rtol = tol`` for both solves,
    and stops at the first whose largest relative error ``||x_rec - x|| / ||x||`` is
    below ``threshold``. The model's own tolerances are restored afterwards.

    The default threshold, 1e-2, asks that the round trip lands within 1% of each
    input's norm: for an image, an error invisible to the eye (about 1/100 of the pixel
    scale, root mean square), yet ten times the local accuracy that the paper's
    tolerance of 1e-3 asks of each step. A flow that fails it at some tolerance turns
    that tolerance's per-step errors into an end-to-end error more than ten times as
    large. Use a smaller threshold for a stricter check.

    Args:
        model: the model under test.
        x: inputs in the original space, ``[batch, d, ...]``.
        ladder: tolerances to try, strictly decreasing (loosest first). In float32,
            tolerances below about 1.2e-9 are refused by the model.
        threshold: largest relative error per sample that passes.

    Returns:
        The loosest passing tolerance, or ``None`` when none of the ladder passes.

    Example:
        >>> import torch
        >>> from anode_plugin import AugmentedNeuralODE, MLPVectorField
        >>> model = AugmentedNeuralODE(MLPVectorField(3), augment_dims=1).double()
        >>> loosest_passing_tolerance(model, torch.randn(8, 2).double())
        0.001
    """
    model = _check_model("loosest_passing_tolerance", model)
    x = _check_batch("x", x)
    ladder = check_ladder(ladder)
    threshold = check_threshold(threshold)
    for tol in ladder:
        if reconstruction_error(model, x, atol=tol, rtol=tol).passes(threshold):
            return tol
    return None


def assert_reconstructs(
    model: AugmentedNeuralODE,
    x: Tensor,
    *,
    threshold: float = RECONSTRUCTION_THRESHOLD,
    atol: float | None = None,
    rtol: float | None = None,
) -> None:
    """Check that integrating to the final time and back returns every input.

    Unlike :func:`assert_invertible`, which compares entries with an absolute tolerance
    to check the mathematics, this asks whether the model *as configured* (its solver
    and tolerances) is invertible in practice: each sample's relative error
    ``||x_rec - x|| / ||x||`` must be below ``threshold``.

    Args:
        model: the model under test.
        x: inputs in the original space, ``[batch, d, ...]``.
        threshold: largest relative error per sample that passes (see
            :func:`loosest_passing_tolerance` for the default's reasoning).
        atol: absolute tolerance of both solves; ``None`` keeps the model's.
        rtol: relative tolerance of both solves; ``None`` keeps the model's.

    Raises:
        AssertionError: naming the worst sample, its error, its input and reconstruction.
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this check's
    model = _check_model("assert_reconstructs", model)
    threshold = check_threshold(threshold)
    report, recovered = _reconstruct(model, _check_batch("x", x), atol, rtol)
    if report.passes(threshold):
        return
    worst = report.worst
    failing = int((~(report.relative < threshold)).sum())
    raise AssertionError(
        f"inverse(features(x)) does not return x within a relative error of {threshold:g} "
        f"at solver tolerances atol={report.atol:g}, rtol={report.rtol:g}: {failing} of "
        f"{x.shape[0]} samples off, mean relative error {report.mean:.3g}.\n"
        f"  worst sample: x[{worst}], relative error {report.max:.3g} "
        f"(absolute {float(report.absolute[worst]):.3g})\n"
        f"  x[{worst}] = {_fmt(x[worst])}\n"
        f"  inverse(features(x[{worst}])) = {_fmt(recovered[worst])}\n"
        "Tighten the solver tolerances (loosest_passing_tolerance finds the loosest that "
        "passes); a fixed-step solver with large steps is not invertible by integrating "
        "backwards."
    )
