"""``AugmentedNeuralODE``: augment, solve, split."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import Tensor, nn
from torchdyn.core import NeuralODE

from ._augmentations import build_augmentation, users_field
from ._counted_field import CountedField, mark_backward_start
from ._nfe import NFETally, SolveStatistics
from ._regularisers import RegularisedField, check_regularisers
from ._validation import check_positive_int, check_save_at, check_state, check_t_span
from .solve import BACKEND_TYPES, ErrorNorm, Solve, SolveAttributes, resolve_solve

__all__ = ["BACKENDS", "SENSITIVITIES", "SOLVERS", "AugmentedNeuralODE"]

BACKENDS = tuple(BACKEND_TYPES)
SOLVERS: dict[str, tuple[str, ...]] = {n: b.SOLVERS for n, b in BACKEND_TYPES.items()}
SENSITIVITIES: dict[str, tuple[str, ...]] = {n: b.SENSITIVITIES for n, b in BACKEND_TYPES.items()}


class AugmentedNeuralODE(SolveAttributes, SolveStatistics, NeuralODE):
    """Augmented Neural ODE (Dupont, Doucet & Teh, 2019).

    The input ``x`` is augmented with ``augment_dims`` dimensions (channels for images;
    zeros, learned, or a second-order state: ``augmentation``), then ``dz/dt = f(t, z)``
    is solved over ``t_span`` by a :class:`~anode_plugin.solve.Solve`. With
    ``augment_dims=0`` this is a plain Neural ODE through the same code path. It is a
    ``torchdyn.core.NeuralODE`` (same call contract and attributes) that composes its own
    solve instead of torchdyn's.

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
        augmentation: str | nn.Module = "zeros",
        placement: str | None = None,
        initial_velocity: str | nn.Module = "zeros",
        order: str | None = None,
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
        solve: Solve | None = None,
    ) -> None:
        """Build the model from a vector field and the options of its solve.

        Args:
            vector_field: ``f``, any module or callable written as ``f(x)``, ``f(t, x)`` or
                ``f(t, x, args)``, on the augmented state.
            augment_dims: number of dimensions (channels) added, the paper's ``p``.
            augment_idx: dimension to augment: 1 for vectors ``[batch, d]`` and for the
                channels of images ``[batch, c, h, w]``.
            augmentation: ``'zeros'`` (``[x, 0]``), ``'input_layer'`` (``[x, phi(x)]``, ``phi``
                learned, or the module ``phi``) or ``'second_order'`` (``[x, 0, v]``: ``f``
                sees all ``2 * (d + p)`` and returns ``x''``, ``d + p``). See the guide.
            placement: ``'last'`` (``None``) puts the augmentation after ``x``, ``'first'`` before.
            initial_velocity: ``'second_order'``'s ``v(0)``: ``'zeros'``, ``'learned'`` or a module.
            order: the deprecated name of ``placement``.
            solver: solver name; see ``SOLVERS[backend]``. A torchdyn solver module is
                accepted with ``backend='torchdyn'``.
            atol: absolute tolerance of adaptive solvers.
            rtol: relative tolerance of adaptive solvers. Tolerances both below 1/1000 of
                the dtype's epsilon (1.2e-10 in float32) are refused: a ``ValueError``.
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
            seminorm: the adjoint's error norm: a seminorm (``True``, Kidger et al., 2021),
                the full norm, or ``None``: each library's own (see ``solve.Adjoint``).
            solver_options: extra options for torchdiffeq's ``odeint`` (e.g.
                ``{"step_size": 0.1}`` for fixed-step methods).
            regularisers: ``'kinetic'`` and/or ``'jacobian'`` (Finlay et al., 2020),
                integrated with the state, out of step-size control and at no extra
                evaluation; their per-sample values are in :attr:`regularisation`.
            jacobian_probe: distribution of the Jacobian regulariser's probe, one per
                solve: ``'gaussian'`` or ``'rademacher'``.
            solve: a ready :class:`anode_plugin.solve.Solve`, instead of the flat solver
                options (which must then keep their defaults).
        """
        solve = resolve_solve(
            solve,
            backend=backend,
            solver=solver,
            atol=atol,
            rtol=rtol,
            sensitivity=sensitivity,
            solver_adjoint=solver_adjoint,
            atol_adjoint=atol_adjoint,
            rtol_adjoint=rtol_adjoint,
            seminorm=seminorm,
            solver_options=solver_options,
        )
        max_nfe = None if max_nfe is None else check_positive_int("max_nfe", max_nfe)
        regularisers = check_regularisers(regularisers, jacobian_probe, solve.sensitivity)
        # Not NeuralODE.__init__: this keeps torchdyn's contract and composes `solve`.
        nn.Module.__init__(self)
        self.solve = solve
        kind = (augmentation, vector_field, augment_idx, augment_dims, placement, order)
        self.augmentation, self.augmenter, field = build_augmentation(*kind, initial_velocity)
        self._tally = NFETally(max_nfe)
        self.vf = CountedField(field, self._tally)
        self.register_buffer("t_span", check_t_span(t_span), persistent=False)
        self.regularisers, self.jacobian_probe = regularisers, jacobian_probe
        self.max_nfe, self.return_t_eval = max_nfe, return_t_eval
        self._regularisation: dict[str, Tensor] = {}

    @property
    def augment_dims(self) -> int:
        """Number of augmented dimensions (channels), the paper's ``p``."""
        return self.augmenter.augment_dims

    @property
    def vector_field(self) -> Callable[..., Tensor]:
        """The user's vector field, as given (the acceleration with ``'second_order'``)."""
        return users_field(self.vf.field)

    @property
    def regularisation(self) -> dict[str, Tensor]:
        """The regularisers of the last forward solve, per sample: ``{name: [batch]}``; empty
        without ``regularisers``. The values carry gradients when the solve did."""
        return dict(self._regularisation)

    def _state(self, name: str, x: Tensor) -> Tensor:
        parameters = self.vf.user_parameters()
        x = check_state(name, x, device=self.t_span.device, parameters=parameters)
        if not parameters:
            self.vf.match_placeholder(x.dtype)  # a parameter-free field takes any dtype
        self.solve.check_resolvable(x.dtype)
        return x

    def _times(self, t_span: Sequence[float] | Tensor | None, like: Tensor) -> Tensor:
        t = self.t_span if t_span is None else check_t_span(t_span)
        return t.to(device=like.device, dtype=like.dtype)

    def _solve(self, z0: Tensor, t: Tensor, args: Any, *, regularise: bool = True) -> Tensor:
        """Integrate an augmented state ``z0``: the states at ``t``, ``[len(t), *z0.shape]``."""
        regularised = None
        if regularise and self.regularisers:
            regularised = RegularisedField(self.vf, self.regularisers, self.jacobian_probe)
        if z0.numel() == 0:  # nothing to integrate: dopri5 would loop forever
            if regularised is not None:
                self._regularisation = {n: z0.new_zeros(z0.shape[0]) for n in self.regularisers}
            return z0.unsqueeze(0).repeat(len(t), *(1,) * z0.ndim)
        self.vf.start_solve(args)
        field, state, norm = self.vf, z0, ErrorNorm()
        if regularised is not None:
            field, state, norm = regularised, regularised.start(z0), ErrorNorm(z0.numel())
        with self._tally.forward_solve():
            sol = self.solve(field, state, t, tally=self._tally, norm=norm)
        if self.sensitivity != "autograd" and sol.requires_grad:
            sol = mark_backward_start(sol, self.vf)
        if regularised is not None:
            sol, self._regularisation = regularised.split(sol)
        return sol

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
        check_save_at(save_at)
        z0 = self.augmenter(self._state("x", x))
        t = self._times(t_span, z0)
        sol = self._solve(z0, t, args)
        return (t, sol) if self.return_t_eval else sol

    def trajectory(self, x: Tensor, t_span: Sequence[float] | Tensor) -> Tensor:
        """The augmented states at each time of ``t_span``: ``[len(t_span), batch, d + p, ...]``."""
        z0 = self.augmenter(self._state("x", x))
        return self._solve(z0, self._times(t_span, z0), None)

    def features(self, x: Tensor, t_span: Sequence[float] | Tensor | None = None) -> Tensor:
        """The features ``phi(x)``, the augmented state at the final time: ``[batch, d+p, ...]``."""
        return self.trajectory(x, self.t_span if t_span is None else t_span)[-1]

    def inverse(self, z: Tensor, t_span: Sequence[float] | Tensor | None = None) -> Tensor:
        """Invert the flow: integrate ``z`` from the final time back and strip augmentation.

        Args:
            z: features in the augmented space, ``[batch, d + p, ...]``.
            t_span: the times the forward solve used; defaults to the model's ``t_span``.

        Returns:
            The inputs ``x`` with ``features(x) == z``, ``[batch, d, ...]``.
        """
        self._state("z", z)
        t = self._times(t_span, z).flip(0)
        return self.augmenter.strip(self._solve(z, t, None, regularise=False)[-1])

    def __repr__(self) -> str:
        regularisers = f", regularisers={self.regularisers}" if self.regularisers else ""
        return (
            f"{type(self).__name__}(augment_dims={self.augment_dims}, augmentation="
            f"{self.augmentation!r}, t_span={self.t_span.tolist()}, max_nfe={self.max_nfe}"
            f"{regularisers}, nfe={self.nfe})\n  solve: {self.solve!r}\n  vector_field: "
            f"{self.vector_field!r}"
        )
