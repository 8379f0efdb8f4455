"""The torchode backend: each sample of a batch solved with its own step sizes.

torchode (Lienen & Günnemann, 2022) steps every sample of a batch on its own: its own
step size, its own accepted and rejected steps, its own end. A sample that is easy to
integrate is not held to the step size of the hardest one, and each sample's
evaluations and steps are measured, the per-sample cost of the flow that the paper's
NFE argument is about. The field is still evaluated on the whole batch at once (a
finished sample rides along without moving), so a batch evaluation counts once in
``nfe``; a sample's own NFE counts the evaluations made while it was being solved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from .._errors import NonFiniteStateError, SolverError, StepSizeUnderflowError
from .._validation import check_choice, check_positive_float
from ._backend import AdjointSupport, Backend
from ._defaults import ATOL, RTOL, SOLVER
from ._evaluations import NO_LIMITS, Evaluations, Limits
from ._norms import FULL_NORM, ErrorNorm
from ._statistics import PerSampleStats, Solution

__all__ = ["TorchodeBackend"]

# torchode's adaptive methods, by their class names (torchode is imported on first use:
# it costs 0.4 s, paid by every `import anode_plugin` otherwise).
_METHODS = {"dopri5": "Dopri5", "tsit5": "Tsit5", "heun": "Heun"}


@dataclass(frozen=True)
class TorchodeBackend(Backend):
    """Solves with torchode, each sample with its own step sizes.

    The field receives ``t`` of shape ``[batch]``, each sample's own time (a field that
    reads ``t`` must accept it; the package's fields do). Gradients: ``'autograd'``
    backpropagates through torchode's solver loop, ``'adjoint'`` is our backsolve
    adjoint on torchode's solvers: the forward solve per sample, the backward solve as
    one system (the parameters' adjoint sums over the samples).

    Args:
        solver: a method name from :attr:`SOLVERS` (adaptive, with an integral step-size
            controller).
        atol: absolute tolerance.
        rtol: relative tolerance.
        per_sample: step each sample on its own (``True``), or the batch as one system,
            as the other backends do (``False``: the same library, joint stepping).
    """

    name: ClassVar[str] = "torchode"
    SOLVERS: ClassVar[tuple[str, ...]] = tuple(_METHODS)
    SENSITIVITIES: ClassVar[tuple[str, ...]] = ("autograd", "adjoint")
    #: torchode has no adjoint of its own: ours runs, with the full norm by default.
    ADJOINTS: ClassVar[AdjointSupport] = AdjointSupport(seminorm=False)

    solver: str = SOLVER
    atol: float = ATOL
    rtol: float = RTOL
    per_sample: bool = True

    def __post_init__(self) -> None:
        check_choice("solver", self.solver, self.SOLVERS)
        check_positive_float("atol", self.atol)
        check_positive_float("rtol", self.rtol)
        if not isinstance(self.per_sample, bool):
            raise TypeError(f"`per_sample` must be True or False, got {self.per_sample!r}.")

    def integrate(
        self,
        field: Any,
        z0: Any,
        t: Tensor,
        *,
        norm: ErrorNorm = FULL_NORM,
        limits: Limits = NO_LIMITS,
        solver: Any = None,
        atol: float | None = None,
        rtol: float | None = None,
    ) -> Solution:
        self._check_tensor_state(z0)
        import torchode

        counted = self.counter(field, t, limits)
        batched = z0.ndim >= 2
        per_sample = self.per_sample and batched
        rows = z0.shape[0] if per_sample else 1
        shape = z0.shape
        y0 = z0.reshape(rows, -1)

        def rate(time: Tensor, y: Tensor) -> Tensor:
            # Per sample: each sample's time, [batch]; one system: one time.
            return counted(time if per_sample else time[0], y.view(shape)).reshape(rows, -1)

        if per_sample:
            controller_norm = norm.per_sample
        else:
            # One system: the norm measures the state as the other backends see it.
            def controller_norm(error: Tensor) -> Tensor:
                return norm(error.view(shape)).reshape(1)

        term = torchode.ODETerm(rate, with_stats=False)
        method_type = getattr(torchode, _METHODS[solver or self.solver])
        method = _PerSampleCount(method_type(term=term), counted)
        controller = torchode.IntegralController(
            self.atol if atol is None else atol,
            self.rtol if rtol is None else rtol,
            term=term,
            norm=controller_norm,
        )
        loop = torchode.AutoDiffAdjoint(
            method, controller, backprop_through_step_size_control=False
        )
        times = t.to(y0.dtype).reshape(1, -1).expand(rows, -1)
        solution = loop.solve(torchode.InitialValueProblem(y0, t_eval=times), term=term)
        _check_status(solution.status, t)
        ys = solution.ys.transpose(0, 1).reshape(len(t), *shape)
        nfe = method.per_sample_nfe(rows)
        accepted = solution.stats["n_accepted"].cpu()
        rejected = solution.stats["n_steps"].cpu() - accepted
        # The solve's length is that of its longest sample: its steps are the solve's.
        longest = int(torch.argmax(accepted + rejected))
        counted.accepted, counted.rejected = int(accepted[longest]), int(rejected[longest])
        if per_sample:
            return Solution(ys, counted.stats(PerSampleStats(nfe, accepted, rejected)))
        return Solution(ys, counted.joint_stats(z0))


class _PerSampleCount(nn.Module):
    """A torchode step method that attributes each step's evaluations to the samples
    still running in it (a finished sample is evaluated, but not solved, any more)."""

    def __init__(self, method: nn.Module, counted: Evaluations) -> None:
        super().__init__()
        self.method, self.counted = method, counted
        self._stepped: Tensor | None = None
        self._before_steps: int | None = None

    def convergence_order(self) -> int:
        return self.method.convergence_order()

    def init(self, *args: Any, **kwargs: Any) -> Any:
        return self.method.init(*args, **kwargs)

    def merge_states(self, *args: Any) -> Any:
        return self.method.merge_states(*args)

    def build_interpolation(self, data: Any) -> Any:
        return self.method.build_interpolation(data)

    def step(self, term: Any, running: Tensor, *args: Any, **kwargs: Any) -> Any:
        before = self.counted.nfe
        if self._before_steps is None:
            self._before_steps = before  # the initial evaluations, made for every sample
            self._stepped = torch.zeros(running.shape[0], dtype=torch.long)
        out = self.method.step(term, running, *args, **kwargs)
        self._stepped += running.cpu().long() * (self.counted.nfe - before)
        return out

    def per_sample_nfe(self, rows: int) -> Tensor:
        """Each sample's evaluations: the initial ones and those of its steps, ``[rows]``."""
        if self._stepped is None:
            return torch.full((rows,), self.counted.nfe, dtype=torch.long)
        return self._before_steps + self._stepped


def _check_status(status: Tensor, t: Tensor) -> None:
    """A clear error for a sample torchode could not solve."""
    import torchode

    failed = status != torchode.Status.SUCCESS.value
    if not bool(failed.any()):
        return
    code = int(status[failed][0])
    samples = failed.nonzero().flatten().tolist()
    which = f"sample(s) {samples[:5]}{' ...' if len(samples) > 5 else ''}"
    over = f"from t={float(t[0]):g} to t={float(t[-1]):g}"
    if code == torchode.Status.INFINITE_NORM.value:
        raise NonFiniteStateError(
            f"The state of {which} became NaN or infinite while integrating {over} (torchode). "
            "Lower the learning rate, add weight decay or gradient clipping, or check the data."
        )
    if code == torchode.Status.REACHED_DT_MIN.value:
        raise StepSizeUnderflowError(
            f"torchode's step size underflowed for {which} while integrating {over}: the flow "
            "is too stiff; try looser tolerances, more augmented dimensions or weight decay."
        )
    raise SolverError(
        f"torchode could not solve {which} {over}: status {torchode.Status(code).name}."
    )
