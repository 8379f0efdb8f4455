"""torchdyn compatibility of ``AugmentedNeuralODE``: what a torchdyn ``NeuralODE`` user
writes and expects, kept apart from augment-solve-split.

- dict states, integrated as torchdyn integrates them (as they are, with autograd);
- ``DataControl`` modules (given the ODE's initial state before each solve) and the noise
  of torchdyn ``CNF`` modules (drawn before each solve);
- ``integral_loss``'s leading state column under autograd (torchdyn's ``[L0, x]``);
- ``odeint``, ``_prep_integration``, ``save_at``, ``vf_params``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ._integral_loss import IntegralLossField
from ._solved import SolvedModel
from ._validation import check_save_at
from .solve import BACKEND_TYPES, Solve
from .solve import _defaults as defaults
from .solve._registry import backends_taking

__all__ = ["TorchdynCompatibility", "default_backend_for", "holds_torchdyn_modules"]


def holds_torchdyn_modules(field: object) -> bool:
    """Whether ``field`` holds torchdyn's ``DataControl`` or ``CNF`` modules, which the
    default backend leaves to torchdyn (their users expect torchdyn's exact results)."""
    modules = field.modules() if isinstance(field, nn.Module) else ()
    return any(hasattr(m, "_control") or hasattr(m, "trace_estimator") for m in modules)


def default_backend_for(
    backend: str | None, solve: Solve | None, vector_field: object
) -> tuple[str | None, bool]:
    """``(backend, defaulted)``: torchdyn's for a field of torchdyn's own modules when the
    backend is left to its default (``defaulted``, which also hands dict states to
    torchdyn: see ``_dict_solve``), else ``backend`` as given."""
    defaulted = backend is None and solve is None
    if defaulted and holds_torchdyn_modules(vector_field):
        return defaults.TORCHDYN_BACKEND, True
    return backend, defaulted


class TorchdynCompatibility(SolvedModel):
    """torchdyn ``NeuralODE``'s habits on a :class:`SolvedModel` with an augmenter."""

    augment_dims: int
    augmentation: str
    augmenter: Any
    order: int
    integral_loss: Callable[[Tensor, Tensor], Tensor] | None
    regularisers: tuple[str, ...]
    _backend_defaulted: bool
    #: The model's solve of an ODE state: the states at ``t``, ``[len(t), *z0.shape]``.
    _solve: Callable[..., Any]

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

    def _check_invertible(self) -> None:
        if self.controlled:
            raise ValueError(
                "`inverse` cannot invert a data-controlled field: its DataControl input is "
                "the initial state, which is what `inverse` computes."
            )

    def _field_modules(self) -> Iterable[nn.Module]:
        field = self.vf.field
        return field.modules() if isinstance(field, nn.Module) else ()

    # ------------------------------------------------------------------ states
    def _initial_state(self, x: Tensor | dict[str, Tensor]) -> Tensor | dict[str, Tensor]:
        """The ODE's initial state of an input ``x``: augmented, after the integral loss's
        column when there is one (a dict state goes as it is)."""
        if isinstance(x, dict):
            return self._dict_state("x", x)
        x = self._check_state("x", x)
        if not self._loss_column:
            return self.augmenter(x)
        if x.ndim != 2 or x.shape[1] < 2:
            raise ValueError(
                "With `integral_loss` and sensitivity='autograd' the input is torchdyn's "
                "[batch, 1 + d]: column 0 starts the integral (usually zeros), the rest is "
                f"the state; got shape {tuple(x.shape)}."
            )
        return torch.cat([x[:, :1], self.augmenter(x[:, 1:])], 1)

    def _ode_state(self, name: str, x: Tensor | dict[str, Tensor]) -> Tensor | dict[str, Tensor]:
        """``x`` checked as an initial state of the ODE itself (already augmented)."""
        return self._dict_state(name, x) if isinstance(x, dict) else self._check_state(name, x)

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
        states = {key: self._check_state(f"{name}[{key!r}]", value) for key, value in x.items()}
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

    # ------------------------------------------------------------------ solves
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

    def _loss_field(self) -> tuple[Any, Any]:
        """The field to solve and the integral loss the adjoint adds: under autograd the
        loss is integrated as column 0 of the state, as torchdyn does."""
        if self._loss_column:
            return IntegralLossField(self.vf, self.integral_loss), None
        return self.vf, self.integral_loss

    def _solve_at(self, z0: Any, t: Tensor, save_at: Sequence[float] | Tensor, args: Any) -> Any:
        """``(t_eval, sol)`` of the solve from ``z0``, at ``save_at``'s rows of ``t``."""
        rows = check_save_at(save_at, t)  # before the solve: a wrong `save_at` costs nothing
        sol = self._solve(z0, t, args)
        if rows is None:
            return t, sol
        if isinstance(sol, dict):
            return t[rows], {key: value[rows] for key, value in sol.items()}
        return t[rows], sol[rows]

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
        return self._solve_at(z0, self._times(t_span, z0), save_at, args)
