"""``AugmentedNeuralODE``: a torchdyn ``NeuralODE`` that augments its state."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
import torchdiffeq
from torch import Tensor, nn
from torchdyn.core import NeuralODE
from torchdyn.numerics.odeint import odeint as torchdyn_odeint
from torchdyn.numerics.solvers.ode import SOLVER_DICT, str_to_solver

from ._adjoint import AdjointOptions, adjoint_odeint
from ._augment import Augmenter
from ._counted_field import CountedField
from ._errors import StepSizeUnderflowError
from ._nfe import NFERecord, NFETally
from ._regularisers import PROBES, REGULARISERS, RegularisedField
from ._validation import (
    check_choice,
    check_floating_tensor,
    check_non_negative_int,
    check_positive_float,
    check_positive_int,
    check_t_span,
)

__all__ = ["BACKENDS", "SENSITIVITIES", "SOLVERS", "AugmentedNeuralODE"]

BACKENDS = ("torchdyn", "torchdiffeq")
# The asynchronous leapfrog needs a second-order system, which this model is not.
SOLVERS: dict[str, tuple[str, ...]] = {
    "torchdyn": tuple(name for name in SOLVER_DICT if name not in ("alf", "AsynchronousLeapfrog")),
    "torchdiffeq": (
        "dopri8",
        "dopri5",
        "bosh3",
        "fehlberg2",
        "adaptive_heun",
        "euler",
        "midpoint",
        "heun2",
        "heun3",
        "rk4",
        "explicit_adams",
        "implicit_adams",
        "fixed_adams",
        "scipy_solver",
    ),
}
SENSITIVITIES: dict[str, tuple[str, ...]] = {
    "torchdyn": ("autograd", "adjoint", "interpolated_adjoint"),
    "torchdiffeq": ("autograd", "adjoint"),
}


class AugmentedNeuralODE(NeuralODE):
    """Augmented Neural ODE (Dupont, Doucet & Teh, 2019).

    The input ``x`` is augmented with ``augment_dims`` zero dimensions (zero channels
    for images), then ``dz/dt = f(t, z)`` is solved over ``t_span``. With
    ``augment_dims=0`` this is a plain Neural ODE through the same code path. It is a
    ``torchdyn.core.NeuralODE`` and keeps its call contract.

    Shape:
        - ``x``: ``[batch, d]`` or ``[batch, c, h, w]``.
        - ``sol``: ``[len(t_eval), batch, d + p]`` or ``[len(t_eval), batch, c + p, h, w]``.

    Example:
        >>> from anode_plugin import AugmentedNeuralODE, MLPVectorField
        >>> model = AugmentedNeuralODE(MLPVectorField(2 + 3), augment_dims=3)
        >>> t_eval, sol = model(torch.randn(8, 2))
        >>> sol.shape
        torch.Size([2, 8, 5])
        >>> model.nfe.forward > 0
        True
    """

    def __init__(
        self,
        vector_field: Callable[..., Any] | nn.Module,
        augment_dims: int,
        *,
        augment_idx: int = 1,
        order: str = "last",
        solver: str | nn.Module = "dopri5",
        atol: float = 1e-3,
        rtol: float = 1e-3,
        sensitivity: str = "autograd",
        t_span: Sequence[float] | Tensor = (0.0, 1.0),
        backend: str = "torchdyn",
        max_nfe: int | None = None,
        return_t_eval: bool = True,
        solver_adjoint: str | None = None,
        atol_adjoint: float = 1e-4,
        rtol_adjoint: float = 1e-4,
        seminorm: bool | None = None,
        solver_options: dict[str, Any] | None = None,
        regularisers: Sequence[str] = (),
        jacobian_probe: str = "gaussian",
    ) -> None:
        """Build the model from a vector field and the options of its solve.

        Args:
            vector_field: ``f``, any module or callable written as ``f(x)``, ``f(t, x)`` or
                ``f(t, x, args)``, on the augmented state.
            augment_dims: number of zero dimensions (channels) added, the paper's ``p``.
            augment_idx: dimension to augment: 1 for vectors ``[batch, d]`` and for the
                channels of images ``[batch, c, h, w]``.
            order: ``'last'`` puts the zeros after ``x`` (the paper), ``'first'`` before.
            solver: solver name; see ``SOLVERS[backend]``. A torchdyn solver module is
                accepted with ``backend='torchdyn'``.
            atol: absolute tolerance of adaptive solvers.
            rtol: relative tolerance of adaptive solvers. A solve whose ``atol`` and
                ``rtol`` are both more than 100 times finer than its dtype's machine
                epsilon (below 1.2e-9 in float32, 2.2e-18 in float64) is refused with a
                ``ValueError``: it would chase rounding noise for minutes. The same holds
                for the adjoint tolerances.
            sensitivity: how gradients are computed; see ``SENSITIVITIES[backend]``.
            t_span: default integration times, 1-D and strictly monotonic.
            backend: ``'torchdyn'`` or ``'torchdiffeq'``.
            max_nfe: stop a solve with :class:`NFEBudgetExceeded` once it needs more than
                this many evaluations; each forward solve and each backward (adjoint)
                solve has this budget. ``None`` for no budget.
            return_t_eval: whether ``forward`` returns ``(t_eval, sol)`` or ``sol`` alone.
            solver_adjoint: solver of the adjoint solve; defaults to ``solver``.
            atol_adjoint: absolute tolerance of the adjoint solve.
            rtol_adjoint: relative tolerance of the adjoint solve.
            seminorm: use a seminorm (Kidger et al., 2021) for the adjoint's step-size
                control: fewer backward evaluations at the same gradients. ``None`` keeps
                the backend's behaviour: torchdyn 1.0.6's adjoint always uses one,
                torchdiffeq's does not. With torchdyn, ``True`` and ``False`` run our own
                backsolve adjoint (on torchdyn's solvers) with the norm asked for.
            solver_options: extra options for torchdiffeq's ``odeint`` (e.g.
                ``{"step_size": 0.1}`` for fixed-step methods).
            regularisers: integrate these regularisers of Finlay et al. (2020) alongside
                the state: ``'kinetic'`` (``int ||f||^2 / n dt``) and ``'jacobian'``
                (``int ||df/dz||_F^2 / n dt`` by Hutchinson's estimator), ``n`` the entries
                of one sample's state. After each forward solve their per-sample values are
                in :attr:`regularisation`; add them, weighted, to the loss. They stay out of
                step-size control and cost no extra evaluation.
            jacobian_probe: distribution of the Jacobian regulariser's probe, one per
                solve: ``'gaussian'`` or ``'rademacher'``.
        """
        backend = check_choice("backend", backend, BACKENDS)
        if not (backend == "torchdyn" and isinstance(solver, nn.Module)):
            check_choice("solver", solver, SOLVERS[backend])
        if solver_adjoint is not None:
            check_choice("solver_adjoint", solver_adjoint, SOLVERS[backend])
        sensitivity = check_choice("sensitivity", sensitivity, SENSITIVITIES[backend])
        atol, rtol = check_positive_float("atol", atol), check_positive_float("rtol", rtol)
        atol_adjoint = check_positive_float("atol_adjoint", atol_adjoint)
        rtol_adjoint = check_positive_float("rtol_adjoint", rtol_adjoint)
        augment_dims = check_non_negative_int("augment_dims", augment_dims)
        if max_nfe is not None:
            max_nfe = check_positive_int("max_nfe", max_nfe)
        if seminorm is not None and not isinstance(seminorm, bool):
            raise ValueError(f"`seminorm` must be True, False or None, got {seminorm!r}.")
        if solver_options is not None and backend != "torchdiffeq":
            raise ValueError(
                "`solver_options` are passed to torchdiffeq; they need backend='torchdiffeq', "
                f"got backend={backend!r}."
            )
        regularisers = _check_regularisers(regularisers)
        jacobian_probe = check_choice("jacobian_probe", jacobian_probe, PROBES)
        if regularisers and sensitivity == "interpolated_adjoint":
            raise ValueError(
                "`regularisers` need sensitivity='autograd' or 'adjoint', got "
                "sensitivity='interpolated_adjoint'."
            )
        t_span = check_t_span(t_span)
        tally = NFETally(max_nfe)
        field = CountedField(vector_field, tally)
        torchdyn_solver = solver if backend == "torchdyn" else "euler"
        super().__init__(
            field,
            solver=torchdyn_solver,
            atol=atol,
            rtol=rtol,
            sensitivity=sensitivity,
            solver_adjoint=solver_adjoint if backend == "torchdyn" else None,
            atol_adjoint=atol_adjoint,
            rtol_adjoint=rtol_adjoint,
            seminorm=bool(seminorm),
            return_t_eval=return_t_eval,
        )
        # torchdyn wrapped the field in its DEFunc, which scans every submodule on each
        # evaluation; CountedField does DEFunc's job for first-order ODEs, so it replaces it.
        self.vf = field
        self.vf.sensitivity = sensitivity
        self.regularisers = regularisers
        self.jacobian_probe = jacobian_probe
        # A plain attribute, not a submodule: the counted field is registered once, as `vf`.
        object.__setattr__(
            self,
            "_regularised_field",
            RegularisedField(field, regularisers, jacobian_probe) if regularisers else None,
        )
        self._regularisation: dict[str, Tensor] = {}
        self.augmenter = Augmenter(augment_idx, augment_dims, order=order)
        self.backend = backend
        self.max_nfe = max_nfe
        self.seminorm = seminorm
        self.solver_options = dict(solver_options or {})
        self._tally = tally
        self._solver_name = solver if isinstance(solver, str) else None
        self._solver_adjoint_name = solver_adjoint or self._solver_name
        # torchdyn builds tableaus in float32 and casts them to the state's dtype, which
        # would cap float64 solves at float32 accuracy: keep one exact solver per dtype.
        self._solvers_by_dtype: dict[tuple[str, torch.dtype], nn.Module] = {}
        if backend == "torchdiffeq":
            # torchdiffeq takes method names: replace torchdyn's solver modules by them.
            del self.solver, self.solver_adjoint
            self.solver = solver
            self.solver_adjoint = solver_adjoint or solver
        del self.t_span  # torchdyn keeps a plain attribute; ours moves with `.to()`
        self.register_buffer("t_span", t_span, persistent=False)

    # ------------------------------------------------------------------ properties
    @property
    def augment_dims(self) -> int:
        """Number of augmented dimensions (channels), the paper's ``p``."""
        return self.augmenter.augment_dims

    @property
    def vector_field(self) -> Callable[..., Tensor]:
        """The user's vector field, as given."""
        return self.vf.field

    @property
    def nfe(self) -> NFERecord:
        """Vector-field evaluations since the last :meth:`reset_nfe`, forward and backward."""
        return self._tally.record()

    def reset_nfe(self) -> None:
        """Zero the NFE counts."""
        self._tally.reset()

    @contextlib.contextmanager
    def uncounted(self) -> Iterator[None]:
        """Leave the evaluations made inside this block out of :attr:`nfe`.

        For diagnostics that are not part of the cost being measured (feature
        snapshots, plots): the counts are restored when the block exits.

        Example:
            >>> with model.uncounted():
            ...     phi = model.features(x)
        """
        saved = self._tally.save()
        try:
            yield
        finally:
            self._tally.restore(saved)

    @property
    def regularisation(self) -> dict[str, Tensor]:
        """The regularisers of the last forward solve: ``{name: [batch]}``, per sample.

        Empty without ``regularisers``. The values carry gradients when the solve did.
        """
        return dict(self._regularisation)

    # ------------------------------------------------------------------ solving
    def _check_state(self, name: str, x: Tensor) -> Tensor:
        check_floating_tensor(name, x, min_ndim=2)
        if x.dtype in (torch.float16, torch.bfloat16):
            raise TypeError(
                f"`{name}` has dtype {x.dtype}; the solvers need float32 or float64: adaptive "
                "step-size control cannot work with half precision's 3 significant digits. "
                f"Use `{name}.float()` and `model.float()`; to run the vector field's layers in "
                "half precision on a GPU, call the solve inside `torch.autocast('cuda')`."
            )
        if x.device != self.t_span.device:
            raise ValueError(
                f"`{name}` is on {x.device} but the model is on {self.t_span.device}; move one "
                f"of them, e.g. `model.to({str(x.device)!r})`."
            )
        parameters = self.vf.user_parameters()
        if parameters and x.dtype != parameters[0].dtype:
            model_dtype = parameters[0].dtype
            raise TypeError(
                f"`{name}` has dtype {x.dtype} but the model's parameters are {model_dtype}; "
                f"convert one of them, e.g. `{name}.to({model_dtype})` or `model.to({x.dtype})`."
            )
        if not parameters:
            # A parameter-free field takes any dtype; the adjoints' placeholder follows it.
            self.vf.match_placeholder(x.dtype)
        # An adaptive solver fed NaN or inf never accepts a step and loops forever.
        if not bool(torch.isfinite(x).all()):
            raise ValueError(
                f"`{name}` contains NaN or infinite values; the solve would never finish."
            )
        if self.sensitivity == "interpolated_adjoint" and x.ndim != 2:
            raise ValueError(
                "sensitivity='interpolated_adjoint' supports vector states [batch, d] only, "
                f"got `{name}` of shape {tuple(x.shape)}; use 'adjoint' for images."
            )
        self._check_tolerances(x.dtype)
        return x

    def _check_tolerances(self, dtype: torch.dtype) -> None:
        floor = torch.finfo(dtype).eps / 100
        pairs = [("atol", "rtol", self.atol, self.rtol)]
        if self.sensitivity != "autograd":
            pairs.append(("atol_adjoint", "rtol_adjoint", self.atol_adjoint, self.rtol_adjoint))
        for atol_name, rtol_name, atol, rtol in pairs:
            if atol < floor and rtol < floor:
                raise ValueError(
                    f"`{atol_name}`={atol:g} and `{rtol_name}`={rtol:g} ask for more accuracy "
                    f"than {dtype} can resolve (machine epsilon {torch.finfo(dtype).eps:.3g}; "
                    f"at least one must be >= {floor:.3g}): the solver would chase rounding "
                    "noise with ever smaller steps. Loosen them, or solve in float64."
                )

    def _times(self, t_span: Sequence[float] | Tensor | None, like: Tensor) -> Tensor:
        t = self.t_span if t_span is None else check_t_span(t_span)
        return t.to(device=like.device, dtype=like.dtype)

    def _torchdyn_solver(self, name: str | None, current: nn.Module, dtype: torch.dtype):
        if name is None or getattr(current, "dtype", None) == dtype:
            return current
        key = (name, dtype)
        if key not in self._solvers_by_dtype:
            self._solvers_by_dtype[key] = str_to_solver(name, dtype)
        return self._solvers_by_dtype[key]

    def _solve(
        self, z0: Tensor, t: Tensor, args: Any, *, regularise: bool = True
    ) -> tuple[Tensor, Tensor]:
        """Integrate an augmented state ``z0`` over times ``t``; returns ``(t_eval, sol)``."""
        regularised = self._regularised_field if regularise else None
        if z0.numel() == 0:
            # Nothing to integrate (an empty batch would make dopri5 loop forever).
            if regularised is not None:
                self._regularisation = {n: z0.new_zeros(z0.shape[0]) for n in self.regularisers}
            return t, z0.unsqueeze(0).repeat(len(t), *(1,) * z0.ndim)
        self.vf.start_solve()
        # Neither library hands `args` to the field (torchdyn's solvers call f(t, x)), so the
        # field keeps them; they stay set for an adjoint backward solve.
        self.vf.args = args
        self._tally.solving = True
        try:
            if regularised is not None:
                t, sol = self._integrate_regularised(regularised, z0, t)
            else:
                t, sol = self._integrate(z0, t, args)
        finally:
            self._tally.solving = False
        if self.sensitivity != "autograd" and sol.requires_grad:
            sol = _StartBackwardSolve.apply(sol, self.vf)
        if regularised is not None:
            sol, self._regularisation = regularised.split(sol)
        return t, sol

    def _integrate(self, z0: Tensor, t: Tensor, args: Any) -> tuple[Tensor, Tensor]:
        if self.backend == "torchdiffeq":
            return t, self._solve_torchdiffeq(self.vf, z0, t)
        self._sync_solvers(z0.dtype)
        if self.sensitivity == "adjoint" and self.seminorm is not None:
            # torchdyn's adjoint always uses a seminorm; ours takes the norm asked for.
            return t, adjoint_odeint(self.vf, z0, t, self._adjoint_options(None))
        requested = t
        interpolated = self.sensitivity == "interpolated_adjoint"
        decreasing = bool(t[0] > t[-1])
        if interpolated and decreasing and torch.is_grad_enabled():
            raise ValueError(
                "sensitivity='interpolated_adjoint' computes wrong gradients when `t_span` "
                "decreases (torchdyn 1.0.6 interpolates in reversed time; measured 5% off "
                "autograd at tol 1e-9); use sensitivity='adjoint', or solve under "
                "`torch.no_grad()` when no gradient is needed."
            )
        z0, t = self._prep_integration(z0, t)
        t_sol, sol = self.odeint(z0, t, args=args if args is not None else {})
        if interpolated:
            # torchdyn integrates a decreasing span in negated time and reports that time.
            sol = _select_requested_times(sol, t_sol, -t if decreasing else t)
        return requested, sol

    def _sync_solvers(self, dtype: torch.dtype) -> None:
        self.solver = self._torchdyn_solver(self._solver_name, self.solver, dtype)
        self.solver_adjoint = self._torchdyn_solver(
            self._solver_adjoint_name, self.solver_adjoint, dtype
        )

    def _adjoint_options(self, forward_entries: int | None) -> AdjointOptions:
        return AdjointOptions(
            solver=self.solver,
            atol=self.atol,
            rtol=self.rtol,
            solver_adjoint=self.solver_adjoint,
            atol_adjoint=self.atol_adjoint,
            rtol_adjoint=self.rtol_adjoint,
            # None keeps torchdyn's behaviour, which is a seminorm.
            seminorm=self.seminorm is not False,
            forward_entries=forward_entries,
        )

    def _integrate_regularised(
        self, field: RegularisedField, z0: Tensor, t: Tensor
    ) -> tuple[Tensor, Tensor]:
        """The state and the regularisers' integrals, together (split by the caller)."""
        state = field.start(z0)
        if self.backend == "torchdiffeq":
            return t, self._solve_torchdiffeq(field, state, t, norm=field.error_norm)
        self._sync_solvers(z0.dtype)
        if self.sensitivity == "adjoint":
            return t, adjoint_odeint(field, state, t, self._adjoint_options(field.entries))
        return torchdyn_odeint(
            field,
            state,
            t,
            self.solver,
            atol=self.atol,
            rtol=self.rtol,
            seminorm=(True, field.entries),
        )

    def _solve_torchdiffeq(
        self, field: nn.Module, z0: Tensor, t: Tensor, norm: Callable | None = None
    ) -> Tensor:
        try:
            return self._call_torchdiffeq(field, z0, t, norm)
        except AssertionError as error:
            # torchdiffeq reports a collapsed step size with a bare `assert`.
            if "underflow" not in str(error):
                raise
            raise StepSizeUnderflowError(
                f"torchdiffeq stopped the solve: {error}. The step size collapsed because the "
                "flow is too stiff or the state became NaN or infinite; try looser "
                "tolerances, more augmented dimensions, weight decay or a lower learning rate."
            ) from error

    def _call_torchdiffeq(
        self, field: nn.Module, z0: Tensor, t: Tensor, norm: Callable | None
    ) -> Tensor:
        options = self.solver_options or None
        if norm is not None:
            options = {**self.solver_options, "norm": norm}
        if self.sensitivity == "autograd":
            return torchdiffeq.odeint(
                field, z0, t, rtol=self.rtol, atol=self.atol, method=self.solver, options=options
            )
        return torchdiffeq.odeint_adjoint(
            field,
            z0,
            t,
            rtol=self.rtol,
            atol=self.atol,
            method=self.solver,
            options=options,
            adjoint_rtol=self.rtol_adjoint,
            adjoint_atol=self.atol_adjoint,
            adjoint_method=self.solver_adjoint,
            adjoint_options={"norm": "seminorm"} if self.seminorm else None,
            adjoint_params=tuple(self.vf.parameters()),
        )

    def forward(
        self,
        x: Tensor,
        t_span: Sequence[float] | Tensor | None = None,
        save_at: Any = (),
        args: Any = None,
    ) -> tuple[Tensor, Tensor] | Tensor:
        """Augment ``x`` and solve the ODE.

        Args:
            x: input in the ORIGINAL space, ``[batch, d]`` or ``[batch, c, h, w]``.
            t_span: integration times; defaults to the model's ``t_span``.
            save_at: accepted for torchdyn's call signature; must be empty. Put the times
                to save in ``t_span`` instead (the solution is returned at each of them).
            args: passed to vector fields written as ``f(t, x, args)``.

        Returns:
            ``(t_eval, sol)``, or ``sol`` alone when ``return_t_eval=False``; ``sol`` has
            shape ``[len(t_eval), batch, d + p, ...]``.
        """
        if len(save_at):
            raise ValueError(
                f"`save_at` is not supported, got {save_at!r}; pass the times to save as "
                "`t_span`: the solution is returned at each of them."
            )
        z0 = self.augmenter(self._check_state("x", x))
        t_eval, sol = self._solve(z0, self._times(t_span, z0), args)
        return (t_eval, sol) if self.return_t_eval else sol

    def trajectory(self, x: Tensor, t_span: Sequence[float] | Tensor) -> Tensor:
        """The augmented states at each time of ``t_span``: ``[len(t_span), batch, d + p, ...]``."""
        z0 = self.augmenter(self._check_state("x", x))
        return self._solve(z0, self._times(t_span, z0), None)[1]

    def features(self, x: Tensor, t_span: Sequence[float] | Tensor | None = None) -> Tensor:
        """The features ``phi(x)``, the augmented state at the final time: ``[batch, d+p, ...]``."""
        z0 = self.augmenter(self._check_state("x", x))
        return self._solve(z0, self._times(t_span, z0), None)[1][-1]

    def inverse(self, z: Tensor, t_span: Sequence[float] | Tensor | None = None) -> Tensor:
        """Invert the flow: integrate ``z`` from the final time back and strip augmentation.

        Args:
            z: features in the augmented space, ``[batch, d + p, ...]``.
            t_span: the times the forward solve used; defaults to the model's ``t_span``.

        Returns:
            The inputs ``x`` with ``features(x) == z``, ``[batch, d, ...]``.
        """
        self._check_state("z", z)
        t = self._times(t_span, z).flip(0)
        return self.augmenter.strip(self._solve(z, t, None, regularise=False)[1][-1])

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(augment_dims={self.augment_dims}, "
            f"backend={self.backend!r}, solver={self._solver_name or self.solver!r}, "
            f"sensitivity={self.sensitivity!r}, atol={self.atol}, rtol={self.rtol}, "
            f"t_span={self.t_span.tolist()}, max_nfe={self.max_nfe}, "
            f"{f'regularisers={self.regularisers}, ' if self.regularisers else ''}nfe={self.nfe})\n"
            f"  vector_field: {self.vector_field!r}"
        )


class _StartBackwardSolve(torch.autograd.Function):
    """Identity on a solution; its backward marks the start of that solve's adjoint.

    The autograd engine runs it just before the adjoint's own backward, so the budget
    and the stall guard start afresh for each backward solve.
    """

    @staticmethod
    def forward(ctx: Any, sol: Tensor, field: CountedField) -> Tensor:
        ctx.field = field
        return sol.view_as(sol)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        ctx.field.start_backward_solve()
        return grad, None


class _RequestedRows(torch.autograd.Function):
    """The rows of torchdyn 1.0.6's interpolated-adjoint solution at the requested times.

    That solution also holds the solver's own checkpoint times, and its backward reads
    the output gradient by the position of each requested time (row ``i`` for
    ``t_span[i]``, the last row for the final time). Forward keeps the requested rows;
    backward puts their gradients where torchdyn reads them.
    """

    @staticmethod
    def forward(ctx: Any, sol: Tensor, rows: Tensor) -> Tensor:
        ctx.num_rows = sol.shape[0]
        return sol[rows]

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        full = grad.new_zeros((ctx.num_rows, *grad.shape[1:]))
        full[: len(grad) - 1] = grad[:-1]
        full[-1] = grad[-1]
        return full, None


def _select_requested_times(sol: Tensor, t_sol: Tensor, t: Tensor) -> Tensor:
    if len(t_sol) == len(t):
        return sol
    rows = (t_sol.detach().reshape(1, -1) - t.detach().reshape(-1, 1)).abs().argmin(dim=1)
    return _RequestedRows.apply(sol, rows)


def _check_regularisers(regularisers: Sequence[str]) -> tuple[str, ...]:
    if isinstance(regularisers, str):
        regularisers = (regularisers,)
    try:
        names = tuple(regularisers)
    except TypeError:
        raise ValueError(
            f"`regularisers` must be a sequence of names from {REGULARISERS}, got {regularisers!r}."
        ) from None
    for name in names:
        check_choice("regularisers", name, REGULARISERS)
    if len(set(names)) != len(names):
        raise ValueError(f"`regularisers` names each regulariser once, got {names!r}.")
    return names
