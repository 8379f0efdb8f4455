"""``AugmentedNeuralODE``: augment, solve, split."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from torch import Tensor, nn
from torchdyn.core import NeuralODE
from torchdyn.core.problems import ODEProblem

from ._augmentations import build_augmentation
from ._field_call import FieldCall
from ._regularisers import RegularisedSolves
from ._second_order import users_field
from ._solved import flat_solve_options
from ._torchdyn_compat import TorchdynCompatibility, default_backend_for
from .solve import BACKEND_TYPES, Solve
from .solve import _defaults as defaults

__all__ = ["BACKENDS", "SENSITIVITIES", "SOLVERS", "AugmentedNeuralODE"]

BACKENDS = tuple(BACKEND_TYPES)
SOLVERS: dict[str, tuple[str, ...]] = {n: b.SOLVERS for n, b in BACKEND_TYPES.items()}
SENSITIVITIES: dict[str, tuple[str, ...]] = {n: b.SENSITIVITIES for n, b in BACKEND_TYPES.items()}


class AugmentedNeuralODE(TorchdynCompatibility, RegularisedSolves, NeuralODE):
    """Augmented Neural ODE (Dupont, Doucet & Teh, 2019), a torchdyn ``NeuralODE``.

    The input ``x`` is augmented with ``augment_dims`` dimensions (channels for images;
    zeros, learned, or a second-order state: ``augmentation``), then ``dz/dt = f(t, z)``
    is solved over ``t_span`` by a :class:`~anode_plugin.solve.Solve`. With
    ``augment_dims=0`` this is a plain Neural ODE through the same code path.

    It is a ``torchdyn.core.NeuralODE``: the constructor takes torchdyn's arguments in
    torchdyn's positional order, the package's own as keywords; ``forward``,
    ``trajectory`` and ``odeint`` take torchdyn's arguments (``save_at``, ``args``, dict
    states); DataControl fields, torchdyn's ``CNF`` noise, ``integral_loss`` and
    ``order`` work as in torchdyn, and every attribute of a torchdyn ``NeuralODE``
    exists here. It composes its own solve instead of torchdyn's, which counts every
    evaluation and step exactly (:attr:`nfe`, :attr:`steps`).

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
        solver: str | nn.Module = defaults.SOLVER,
        order: int | str = 1,
        atol: float = defaults.ATOL,
        rtol: float = defaults.RTOL,
        sensitivity: str = defaults.SENSITIVITY,
        solver_adjoint: str | nn.Module | None = None,
        atol_adjoint: float = defaults.ATOL_ADJOINT,
        rtol_adjoint: float = defaults.RTOL_ADJOINT,
        interpolator: str | None = None,
        integral_loss: Callable[[Tensor, Tensor], Tensor] | None = None,
        seminorm: bool | None = None,
        return_t_eval: bool = True,
        optimizable_params: Iterable[nn.Parameter] = (),
        *,
        augment_dims: int,
        augment_idx: int = 1,
        augmentation: str | nn.Module = "zeros",
        placement: str | None = None,
        initial_velocity: str | nn.Module = "zeros",
        t_span: Sequence[float] | Tensor = (0.0, 1.0),
        backend: str | None = None,
        max_nfe: int | None = None,
        solver_options: dict[str, Any] | None = None,
        regularisers: Sequence[str] = (),
        jacobian_probe: str = "gaussian",
        solve: Solve | None = None,
    ) -> None:
        """Build the model from a vector field and the options of its solve.

        The arguments up to ``optimizable_params`` are torchdyn ``NeuralODE``'s, in its
        order (the defaults differ where noted); the others are keywords.

        Args:
            vector_field: ``f``, any module or callable written as ``f(x)``, ``f(t, x)`` or
                ``f(t, x, args)``, on the augmented state.
            solver: solver name; see ``SOLVERS[backend]``. A torchdyn solver module is
                accepted by the torchdyn backend (the default backend chooses it for one).
                (torchdyn's default is ``'tsit5'``.)
            order: the ODE's order, torchdyn's meaning: with ``order=k`` the state is
                ``k`` blocks ``[x, x', ...]`` and ``f`` returns the ``k``-th derivative (the
                size of one block); ``augment_dims=0`` then. A string is the deprecated
                name of ``placement``.
            atol: absolute tolerance of adaptive solvers.
            rtol: relative tolerance of adaptive solvers. Tolerances both below 1/1000 of
                the dtype's epsilon (1.2e-10 in float32) are refused: a ``ValueError``.
            sensitivity: how gradients are computed; see ``SENSITIVITIES[backend]``.
            solver_adjoint: solver of the adjoint solve; defaults to ``solver``.
            atol_adjoint: absolute tolerance of the adjoint solve.
            rtol_adjoint: relative tolerance of the adjoint solve.
            interpolator: torchdyn's dense output of adaptive solvers (``'4th'``; backend
                torchdyn): the states at ``t_span`` are interpolated instead of stepped to.
            integral_loss: ``g(t, z)``, one value per sample (``[batch]`` or
                ``[batch, 1]``), whose integral over the solve joins the loss, as in
                torchdyn: with ``sensitivity='autograd'`` the input has a leading column
                for it (``x = [L0, x]``, ``sol[..., 0]`` is the running integral); with the
                adjoints the backward solve adds its gradients (and ``sol`` has no such
                column).
            seminorm: the adjoint's error norm: a seminorm (``True``, Kidger et al., 2021),
                the full norm, or ``None``: each library's own (see ``solve.Adjoint``).
                (torchdyn's default, ``False``, is ignored by torchdyn 1.0.6.)
            return_t_eval: whether ``forward`` returns ``(t_eval, sol)`` or ``sol`` alone.
            optimizable_params: parameters a parameter-free ``f`` uses (a
                ``functools.partial`` of a module's method): the adjoints compute their
                gradients.
            augment_dims: number of dimensions (channels) added, the paper's ``p``;
                ``0`` for a plain Neural ODE.
            augment_idx: dimension to augment: 1 for vectors ``[batch, d]`` and for the
                channels of images ``[batch, c, h, w]``.
            augmentation: ``'zeros'`` (``[x, 0]``), ``'input_layer'`` (``[x, phi(x)]``, ``phi``
                learned, or the module ``phi``) or ``'second_order'`` (``[x, 0, v]``: ``f``
                sees all ``2 * (d + p)`` and returns ``x''``, ``d + p``). See the guide.
            placement: ``'last'`` (``None``) puts the augmentation after ``x``, ``'first'`` before.
            initial_velocity: ``'second_order'``'s ``v(0)``: ``'zeros'``, ``'learned'`` or a module.
            t_span: default integration times, 1-D and strictly monotonic.
            backend: a name from ``BACKENDS`` (``'native'``, ``'torchdyn'``,
                ``'torchdiffeq'``, ``'torchode'``). ``None``: the package's own
                (``'native'``), or ``'torchdyn'`` where only torchdyn does what is asked: a
                torchdyn solver module or solver name, ``'interpolated_adjoint'``, an
                ``interpolator``, dict states.
            max_nfe: stop a solve with :class:`NFEBudgetExceeded` once it needs more than
                this many evaluations; each forward solve and each backward (adjoint)
                solve has this budget. ``None`` for no budget.
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
        backend, backend_defaulted = default_backend_for(backend, solve, vector_field)
        options = flat_solve_options(locals())
        # torchdyn's NeuralODE.__init__ would build torchdyn's own solve; the Lightning
        # part of the class (device, dtype, trainer) is initialised as it would be there.
        super(ODEProblem, self).__init__()
        self._init_solve(solve, options, max_nfe, t_span)
        self._init_integrals(integral_loss, regularisers, jacobian_probe)
        self._backend_defaulted = backend_defaulted
        kind = (augmentation, vector_field, augment_idx, augment_dims, placement, order)
        self.augmentation, self.augmenter, field, self.order = build_augmentation(
            *kind, initial_velocity
        )
        self.vf = FieldCall(field, optimizable_params)
        self.return_t_eval = return_t_eval

    @property
    def augment_dims(self) -> int:
        """Number of augmented dimensions (channels), the paper's ``p``."""
        return self.augmenter.augment_dims

    @property
    def vector_field(self) -> Callable[..., Tensor]:
        """The user's vector field, as given (the acceleration with ``'second_order'``)."""
        return users_field(self.vf.field)

    def _solve(self, z0: Any, t: Tensor, args: Any, *, regularise: bool = True) -> Any:
        """Integrate an ODE state ``z0``: the states at ``t``, ``[len(t), *z0.shape]``."""
        self._prepare_field(z0)
        self.vf.args = args  # the solvers call f(t, z): the field hands them on
        if regularise and self.regularisers:
            return self._regularised_solve(z0, t)
        if isinstance(z0, Tensor) and z0.numel() == 0:
            return self._at_rest(z0, t)
        field, integral_loss = self._loss_field() if regularise else (self.vf, None)
        solve = self._dict_solve() if isinstance(z0, dict) else self.solve
        return self._integrate(field, z0, t, solve=solve, integral_loss=integral_loss)

    def forward(
        self,
        x: Tensor | dict[str, Tensor],
        t_span: Sequence[float] | Tensor | None = None,
        save_at: Sequence[float] | Tensor = (),
        args: Any = None,
    ) -> tuple[Tensor, Tensor] | Tensor:
        """Augment ``x`` and solve the ODE.

        Args:
            x: input in the ORIGINAL space, ``[batch, d]`` or ``[batch, c, h, w]``; with
                ``integral_loss`` and autograd ``[batch, 1 + d]`` (column 0 starts the
                integral). A dict of tensors is torchdyn's dict state, solved as it is.
            t_span: integration times; defaults to the model's ``t_span``.
            save_at: times of ``t_span`` to return the solution at (torchdyn's argument;
                every solver honours it); empty: all of ``t_span``.
            args: passed to vector fields written as ``f(t, x, args)``, any object.

        Returns:
            ``(t_eval, sol)``, or ``sol`` alone when ``return_t_eval=False``; ``sol`` has
            shape ``[len(t_eval), batch, d + p, ...]``; ``t_eval`` is ``t_span``, or the
            times of ``save_at``.
        """
        z0 = self._initial_state(x)
        t, sol = self._solve_at(z0, self._times(t_span, z0), save_at, args)
        return (t, sol) if self.return_t_eval else sol

    def trajectory(self, x: Tensor, t_span: Sequence[float] | Tensor) -> Tensor:
        """The augmented states at each time of ``t_span``: ``[len(t_span), batch, d + p, ...]``."""
        z0 = self._initial_state(x)
        return self._solve(z0, self._times(t_span, z0), None)

    def features(self, x: Tensor, t_span: Sequence[float] | Tensor | None = None) -> Tensor:
        """The features ``phi(x)``, the augmented state at the final time: ``[batch, d+p, ...]``."""
        return self.trajectory(x, self.t_span if t_span is None else t_span)[-1]

    def inverse(self, z: Tensor, t_span: Sequence[float] | Tensor | None = None) -> Tensor:
        """Invert the flow: integrate ``z`` from the final time back and strip augmentation.

        Args:
            z: features in the augmented space, ``[batch, d + p, ...]`` (without an
                integral-loss column).
            t_span: the times the forward solve used; defaults to the model's ``t_span``.

        Returns:
            The inputs ``x`` with ``features(x) == z``, ``[batch, d, ...]``.
        """
        self._check_invertible()
        self._check_state("z", z)
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
