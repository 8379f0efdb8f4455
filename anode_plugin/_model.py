"""``AugmentedNeuralODE``: augment, solve, split."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torchdyn.core import NeuralODE
from torchdyn.core.problems import ODEProblem

from ._augmentations import build_augmentation, users_field
from ._field_call import FieldCall
from ._integral_loss import IntegralLossField
from ._nfe import ModelStats, SolveStatistics
from ._regularisers import RegularisedField, check_regularisers
from ._validation import (
    check_positive_int,
    check_save_at,
    check_state,
    check_t_span,
    state_leaf,
)
from .solve import BACKEND_TYPES, ErrorNorm, Solve, SolveAttributes, resolve_solve
from .solve import _defaults as defaults
from .solve._evaluations import Limits
from .solve._solve import backends_taking

__all__ = ["BACKENDS", "SENSITIVITIES", "SOLVERS", "AugmentedNeuralODE"]

BACKENDS = tuple(BACKEND_TYPES)
SOLVERS: dict[str, tuple[str, ...]] = {n: b.SOLVERS for n, b in BACKEND_TYPES.items()}
SENSITIVITIES: dict[str, tuple[str, ...]] = {n: b.SENSITIVITIES for n, b in BACKEND_TYPES.items()}


def _holds_torchdyn_modules(field: object) -> bool:
    """Whether ``field`` holds torchdyn's ``DataControl`` or ``CNF`` modules, which the
    default backend leaves to torchdyn (their users expect torchdyn's exact results)."""
    modules = field.modules() if isinstance(field, nn.Module) else ()
    return any(hasattr(m, "_control") or hasattr(m, "trace_estimator") for m in modules)


class _AcceptsDeprecatedPositional(type(NeuralODE)):
    """Rewrites the deprecated ``AugmentedNeuralODE(vector_field, augment_dims)`` before
    ``__init__`` binds its arguments: the second positional parameter is torchdyn's
    ``solver`` now, and ``AugmentedNeuralODE(f, 1, solver="euler")`` must keep working."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        legacy = (
            len(args) >= 2
            and isinstance(args[1], numbers.Integral)
            and not isinstance(args[1], bool)
            and cls.__init__ is AugmentedNeuralODE.__init__
        )
        if legacy:
            if len(args) > 2 or "augment_dims" in kwargs:
                raise TypeError(
                    f"{cls.__name__}(vector_field, augment_dims) is the deprecated form: it "
                    "takes no other positional argument and no `augment_dims` keyword; write "
                    f"{cls.__name__}(vector_field, ..., augment_dims=p)."
                )
            warnings.warn(
                f"{cls.__name__}(vector_field, {args[1]!r}) is deprecated and will stop working "
                f"in the next release: write augment_dims={args[1]!r}. The positional "
                "arguments after `vector_field` are torchdyn NeuralODE's (solver, order, "
                "atol, ...).",
                DeprecationWarning,
                stacklevel=2,
            )
            args, kwargs = args[:1], {**kwargs, "augment_dims": args[1]}
        return super().__call__(*args, **kwargs)


class AugmentedNeuralODE(
    SolveAttributes, SolveStatistics, NeuralODE, metaclass=_AcceptsDeprecatedPositional
):
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
        if isinstance(order, str):
            placement_alias, ode_order = order, 1  # the deprecated name of `placement`
        else:
            placement_alias, ode_order = None, check_positive_int("order", order)
        # The default backend hands torchdyn's dict states to torchdyn (see _dict_solve).
        backend_defaulted = backend is None and solve is None
        if backend_defaulted and _holds_torchdyn_modules(vector_field):
            backend = defaults.TORCHDYN_BACKEND  # torchdyn's own constructs, on torchdyn
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
            interpolator=interpolator,
        )
        max_nfe = None if max_nfe is None else check_positive_int("max_nfe", max_nfe)
        regularisers = check_regularisers(regularisers, jacobian_probe, solve.sensitivity)
        if integral_loss is not None:
            if not callable(integral_loss):
                raise TypeError(
                    "`integral_loss` must be a callable g(t, x) or None, got "
                    f"{type(integral_loss).__name__}."
                )
            if regularisers:
                raise ValueError(
                    "Pass `integral_loss` or `regularisers`, not both: each adds an integral "
                    f"to the solve; got regularisers={regularisers!r}."
                )
        # torchdyn's NeuralODE.__init__ would build torchdyn's own solve; the Lightning
        # part of the class (device, dtype, trainer) is initialised as it would be there.
        super(ODEProblem, self).__init__()
        self.solve = solve
        self._backend_defaulted = backend_defaulted
        kind = (augmentation, vector_field, augment_idx, augment_dims, placement, placement_alias)
        self.augmentation, self.augmenter, field = build_augmentation(
            *kind, initial_velocity, ode_order
        )
        self.order = ode_order
        self.vf = FieldCall(field, optimizable_params)
        self._statistics = ModelStats()
        self.integral_loss = integral_loss
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

    @property
    def controlled(self) -> bool:
        """Whether the field holds torchdyn ``DataControl`` modules (their ``_control`` is
        the ODE's initial state, set before each solve)."""
        return any(hasattr(m, "_control") for m in self._field_modules())

    @property
    def vf_params(self) -> Tensor:
        """The vector field's parameters, flattened into one vector (torchdyn's attribute),
        the placeholder of a parameter-free field included: ``[num_parameters]``."""
        return torch.cat([p.contiguous().flatten() for p in self.vf.parameters()])

    @property
    def _loss_column(self) -> bool:
        """Whether the states carry torchdyn's integral-loss column 0 (autograd only)."""
        return self.integral_loss is not None and self.sensitivity == "autograd"

    def _field_modules(self) -> Iterable[nn.Module]:
        field = self.vf.field
        return field.modules() if isinstance(field, nn.Module) else ()

    def _state(self, name: str, x: Tensor) -> Tensor:
        parameters = self.vf.user_parameters()
        x = check_state(name, x, device=self.t_span.device, parameters=parameters)
        if not parameters:
            self.vf.match_placeholder(x.dtype)  # a parameter-free field takes any dtype
        self.solve.check_resolvable(x.dtype)
        return x

    def _dict_state(self, name: str, x: dict[str, Tensor]) -> dict[str, Tensor]:
        """A torchdyn dict state, solved as torchdyn solves one: as it is, with autograd."""
        solver_of_dicts = self._dict_solve().backend
        takes_dicts = solver_of_dicts.DICT_STATES
        dict_backend = solver_of_dicts.name if takes_dicts else backends_taking("dict_states")[0]
        setup = {
            "augment_dims": (self.augment_dims, 0),
            "augmentation": (self.augmentation, "zeros"),
            "order": (self.order, 1),
            "backend": (solver_of_dicts.name, dict_backend),
            "sensitivity": (self.sensitivity, "autograd"),
            "integral_loss": (self.integral_loss, None),
            "regularisers": (self.regularisers, ()),
        }
        wrong = {k: got for k, (got, needed) in setup.items() if got != needed}
        if wrong or not x:
            needs = ", ".join(f"{k}={needed!r}" for k, (_, needed) in setup.items())
            got = ", ".join(f"{k}={v!r}" for k, v in wrong.items()) or f"{name}={{}}"
            raise ValueError(
                f"A dict state `{name}` (torchdyn's) is integrated as torchdyn does, as it is: "
                f"it needs {needs} and at least one entry; got {got}. Augment a tensor state "
                "instead."
            )
        states = {key: self._state(f"{name}[{key!r}]", value) for key, value in x.items()}
        solver = solver_of_dicts.solver_module(None, next(iter(states.values())).dtype)
        if getattr(solver, "stepping_class", "fixed") != "fixed":
            raise ValueError(
                f"A dict state `{name}` needs a fixed-step solver (torchdyn's adaptive step "
                f"control measures a tensor's error), got solver={self.solver!r}."
            )
        return states

    def _dict_solve(self) -> Solve:
        """The solve of dict states: the model's, or torchdyn's when the backend was left
        to its default and the default cannot integrate them."""
        if not self._backend_defaulted or self.solve.backend.DICT_STATES:
            return self.solve
        torchdyn = BACKEND_TYPES[backends_taking("dict_states")[0]]
        return Solve(torchdyn(self.solver, self.atol, self.rtol), self.solve.gradient)

    def _ode_state(self, name: str, x: Tensor | dict[str, Tensor]) -> Tensor | dict[str, Tensor]:
        """``x`` checked as an initial state of the ODE itself (already augmented)."""
        return self._dict_state(name, x) if isinstance(x, dict) else self._state(name, x)

    def _initial_state(self, x: Tensor | dict[str, Tensor]) -> Tensor | dict[str, Tensor]:
        """The ODE's initial state of an input ``x``: augmented, after the loss column."""
        if isinstance(x, dict):
            return self._dict_state("x", x)
        x = self._state("x", x)
        if not self._loss_column:
            return self.augmenter(x)
        if x.ndim != 2 or x.shape[1] < 2:
            raise ValueError(
                "With `integral_loss` and sensitivity='autograd' the input is torchdyn's "
                "[batch, 1 + d]: column 0 starts the integral (usually zeros), the rest is "
                f"the state; got shape {tuple(x.shape)}."
            )
        return torch.cat([x[:, :1], self.augmenter(x[:, 1:])], 1)

    def _times(self, t_span: Sequence[float] | Tensor | None, like: Any) -> Tensor:
        like = state_leaf(like)
        t = self.t_span if t_span is None else check_t_span(t_span)
        return t.to(device=like.device, dtype=like.dtype)

    def _prep_integration(self, x: Any, t_span: Sequence[float] | Tensor | None = None) -> Any:
        """torchdyn's preparation of a solve from the ODE's initial state ``x``.

        Draws the noise of torchdyn ``CNF`` modules with a ``noise_dist`` (Hutchinson's
        estimator) and gives ``DataControl`` modules their input, ``x`` without the
        leading entries that the integral loss and each CNF's divergence occupy.

        Returns:
            ``(x, t)``: ``x`` unchanged and the integration times.
        """
        self._prepare_field(x)
        return x, self._times(t_span, x)

    def _prepare_field(self, x: Any) -> None:
        """The field part of :meth:`_prep_integration`, before each solve from ``x``."""
        if not isinstance(x, Tensor):
            return
        leading = int(self._loss_column)
        for module in self._field_modules():
            if hasattr(module, "trace_estimator"):
                if getattr(module, "noise_dist", None) is not None:
                    module.noise = module.noise_dist.sample((x.shape[0],))
                leading += 1
            if hasattr(module, "_control"):
                module._control = x[:, leading:].detach()

    def _solve(self, z0: Any, t: Tensor, args: Any, *, regularise: bool = True) -> Any:
        """Integrate an ODE state ``z0``: the states at ``t``, ``[len(t), *z0.shape]``."""
        self._prepare_field(z0)
        regularised = None
        if regularise and self.regularisers:
            regularised = RegularisedField(self.vf, self.regularisers, self.jacobian_probe)
        if isinstance(z0, Tensor) and z0.numel() == 0:  # dopri5 would loop forever
            if regularised is not None:
                self._regularisation = {n: z0.new_zeros(z0.shape[0]) for n in self.regularisers}
            return z0.unsqueeze(0).repeat(len(t), *(1,) * z0.ndim)
        self.vf.args = args  # the solvers call f(t, z): the field hands them on
        field, state, norm, integral_loss = self.vf, z0, ErrorNorm(), None
        if regularised is not None:
            field, state = regularised, regularised.start(z0)
            norm = ErrorNorm(regularised.entries)  # the integrals are out of step control
        elif regularise and self._loss_column:
            field = IntegralLossField(self.vf, self.integral_loss)
        elif regularise:
            integral_loss = self.integral_loss  # the adjoint adds its gradients
        solve = self._dict_solve() if isinstance(state, dict) else self.solve
        solution = solve(
            field,
            state,
            t,
            norm=norm,
            limits=self._limits(),
            integral_loss=integral_loss,
            record_backward=self._record_backward,
        )
        self._record_forward(solution.stats)
        sol = solution.ys
        if regularised is not None:
            sol, self._regularisation = regularised.split(sol)
        return sol

    def _limits(self) -> Limits:
        field = self.vf.field
        return Limits(self.max_nfe, field if isinstance(field, nn.Module) else None)

    @staticmethod
    def _saved(t: Tensor, sol: Any, rows: Tensor | None) -> tuple[Tensor, Any]:
        """The times and states of the rows ``check_save_at`` kept (``None``: all)."""
        if rows is None:
            return t, sol
        if isinstance(sol, dict):
            return t[rows], {key: value[rows] for key, value in sol.items()}
        return t[rows], sol[rows]

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
        t = self._times(t_span, z0)
        rows = check_save_at(save_at, t)  # before the solve: a wrong `save_at` costs nothing
        t, sol = self._saved(t, self._solve(z0, t, args), rows)
        return (t, sol) if self.return_t_eval else sol

    def odeint(
        self,
        x: Tensor | dict[str, Tensor],
        t_span: Sequence[float] | Tensor,
        save_at: Sequence[float] | Tensor = (),
        args: Any = None,
    ) -> tuple[Tensor, Tensor]:
        """torchdyn's ``ODEProblem.odeint``: solve from a state ``x`` already in the ODE's
        space (no augmentation), ``[batch, d + p, ...]``.

        Returns:
            ``(t_eval, sol)``, ``sol`` of shape ``[len(t_eval), *x.shape]``.
        """
        z0 = self._ode_state("x", x)
        t = self._times(t_span, z0)
        rows = check_save_at(save_at, t)
        return self._saved(t, self._solve(z0, t, args), rows)

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
        if self.controlled:
            raise ValueError(
                "`inverse` cannot invert a data-controlled field: its DataControl input is "
                "the initial state, which is what `inverse` computes."
            )
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
