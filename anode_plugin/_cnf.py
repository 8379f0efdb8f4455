"""``AugmentedCNF``: a continuous normalizing flow on data augmented with sampled noise.

The paper's augmentation pads zeros, which a density model cannot do (the flow would
map onto a degenerate set). Augmented normalizing flows (Huang, Dinh & Courville,
2020) instead draw the ``p`` extra entries ``e ~ q(e | x)`` and fit the joint flow
``F`` on ``[x, e]`` with the variational lower bound

    log p(x) >= E_q[ log N(F(x, e); 0, I) + log|det dF/d(x, e)| - log q(e | x) ],

the log-determinant coming from the instantaneous change of variables. With ``p = 0``
the bound is the exact log-density of a plain CNF (FFJORD).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ._field_call import FieldCall
from ._nfe import ModelStats, SolveStatistics
from ._trace import PROBES, TRACES, LogDetField
from ._validation import (
    check_choice,
    check_non_negative_int,
    check_positive_int,
    check_state,
    check_t_span,
)
from .solve import ErrorNorm, Solve, SolveAttributes, resolve_solve
from .solve import _defaults as defaults
from .solve._evaluations import Limits

__all__ = ["Q_KINDS", "AugmentedCNF", "GaussianQ"]

Q_KINDS = ("standard_normal", "learned")
_LOG_2PI = math.log(2 * math.pi)


class GaussianQ(nn.Module):
    """A learned diagonal Gaussian ``q(e | x) = N(mu(x), diag(sigma(x)^2))``.

    A two-layer MLP ``data_dims -> hidden_dim -> 2 * augment_dims`` gives the mean and
    the log standard deviation; its last layer starts at zero, so ``q`` starts as the
    standard normal.

    Args:
        data_dims: size ``d`` of the data.
        augment_dims: size ``p`` of the augmented entries, at least 1.
        hidden_dim: width of the hidden layer.

    Shape:
        - ``x``: ``[batch, d]``; ``mean`` and ``log_std``: ``[batch, p]``.
    """

    def __init__(self, data_dims: int, augment_dims: int, hidden_dim: int = 32) -> None:
        super().__init__()
        data_dims = check_positive_int("data_dims", data_dims)
        augment_dims = check_positive_int("augment_dims", augment_dims)
        hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        self.net = nn.Sequential(
            nn.Linear(data_dims, hidden_dim), nn.Tanh(), nn.Linear(hidden_dim, 2 * augment_dims)
        )
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(mean, log_std)`` of ``q(e | x)``, each ``[batch, p]``."""
        mean, log_std = self.net(x).chunk(2, dim=1)
        return mean, log_std


class AugmentedCNF(SolveAttributes, SolveStatistics, nn.Module):
    """Augmented continuous normalizing flow (Huang, Dinh & Courville, 2020) on ``[x, e]``.

    The flow integrates ``dz/dt = f(t, z)`` over ``t_span`` from the joint state
    ``z(t0) = [x, e]`` (data first, then ``augment_dims`` entries drawn from ``q(e | x)``)
    to ``z(t1)``, whose density is the standard normal; the log-determinant of the map
    is integrated alongside, ``d(log det)/dt = tr(df/dz)``, in the same solve.
    ``augment_dims=0`` is a plain CNF (FFJORD) through the same code path, and then
    :meth:`log_prob` is the exact log-density (up to the solve's and, with Hutchinson's
    trace, the estimator's error).

    The log-determinant is part of the integrated state and of step-size control (as in
    FFJORD). Sampling (:meth:`sample`) solves backwards without it.

    Shape:
        - ``x``: ``[batch, data_dims]``; the flow's state: ``[batch, data_dims + augment_dims]``.

    Example:
        >>> from anode_plugin import AugmentedCNF, MLPVectorField
        >>> flow = AugmentedCNF(MLPVectorField(2 + 1, activation="tanh"), 2, 1)
        >>> flow.log_prob(torch.randn(8, 2)).shape
        torch.Size([8])
        >>> flow.sample(5).shape
        torch.Size([5, 2])
    """

    def __init__(
        self,
        vector_field: Callable[..., Any] | nn.Module,
        data_dims: int,
        augment_dims: int,
        *,
        q: str = "standard_normal",
        q_hidden_dim: int = 32,
        trace: str = "exact",
        probe: str = "gaussian",
        solver: str | nn.Module = defaults.SOLVER,
        atol: float = defaults.ATOL,
        rtol: float = defaults.RTOL,
        sensitivity: str = defaults.SENSITIVITY,
        t_span: Sequence[float] | Tensor = (0.0, 1.0),
        backend: str = defaults.BACKEND,
        max_nfe: int | None = None,
        solver_adjoint: str | None = None,
        atol_adjoint: float = defaults.ATOL_ADJOINT,
        rtol_adjoint: float = defaults.RTOL_ADJOINT,
        seminorm: bool | None = None,
        solver_options: dict[str, Any] | None = None,
        solve: Solve | None = None,
    ) -> None:
        """Build the flow from a vector field on the joint state and its solve's options.

        Args:
            vector_field: ``f``, any module or callable written as ``f(x)``, ``f(t, x)`` or
                ``f(t, x, args)``, on states ``[batch, data_dims + augment_dims]``. Smooth
                activations (tanh, softplus): the trace's gradient needs second derivatives.
            data_dims: size ``d`` of the data vectors.
            augment_dims: number ``p`` of augmented entries; 0 for a plain CNF.
            q: the distribution of the augmented entries: ``'standard_normal'``, or
                ``'learned'``, a diagonal Gaussian given by a small network of ``x``
                (:class:`GaussianQ`). With ``augment_dims=0`` there is nothing to learn:
                ``q`` is ignored and no network is built (``flow.q is None``), so one
                configuration serves plain and augmented flows alike.
            q_hidden_dim: hidden width of the learned ``q``'s network.
            trace: ``'exact'`` (one vector-Jacobian product per state entry, for small
                states) or ``'hutchinson'`` (one per evaluation, unbiased, one probe per
                solve, kept by that solve's adjoint).
            probe: Hutchinson's probe: ``'gaussian'`` or ``'rademacher'``.
            solver: solver name; see ``SOLVERS[backend]``.
            atol: absolute tolerance of adaptive solvers.
            rtol: relative tolerance of adaptive solvers.
            sensitivity: ``'autograd'`` or ``'adjoint'`` (the interpolated adjoint is
                refused: its spline does not carry the log-determinant).
            t_span: integration times, 1-D and strictly monotonic; the flow maps the
                data at ``t_span[0]`` to the base distribution at ``t_span[-1]``.
            backend: a name from ``BACKENDS``.
            max_nfe: evaluation budget of each solve, forward or backward; ``None``: none.
            solver_adjoint: solver of the adjoint solve; defaults to ``solver``.
            atol_adjoint: absolute tolerance of the adjoint solve.
            rtol_adjoint: relative tolerance of the adjoint solve.
            seminorm: the adjoint's error norm (see :class:`anode_plugin.solve.Adjoint`).
            solver_options: extra options for torchdiffeq's ``odeint``.
            solve: a ready :class:`anode_plugin.solve.Solve`, instead of the flat options.
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
        if solve.sensitivity not in ("autograd", "adjoint"):
            raise ValueError(
                "AugmentedCNF needs sensitivity='autograd' or 'adjoint', got "
                f"sensitivity={solve.sensitivity!r}: the interpolated adjoint's spline does "
                "not carry the log-determinant."
            )
        data_dims = check_positive_int("data_dims", data_dims)
        augment_dims = check_non_negative_int("augment_dims", augment_dims)
        check_choice("q", q, Q_KINDS)
        check_choice("trace", trace, TRACES)
        check_choice("probe", probe, PROBES)
        max_nfe = None if max_nfe is None else check_positive_int("max_nfe", max_nfe)
        super().__init__()
        self.solve = solve
        self.data_dims, self.augment_dims = data_dims, augment_dims
        self.q_kind, self.trace, self.probe = q, trace, probe
        self.max_nfe = max_nfe
        self.vf = FieldCall(vector_field)
        self._statistics = ModelStats()
        self.q: GaussianQ | None = None
        if q == "learned" and augment_dims > 0:  # p = 0: nothing to learn, nothing built
            self.q = GaussianQ(
                data_dims, augment_dims, check_positive_int("q_hidden_dim", q_hidden_dim)
            )
        self.register_buffer("t_span", check_t_span(t_span), persistent=False)

    @property
    def vector_field(self) -> Callable[..., Tensor]:
        """The user's vector field, as given."""
        return self.vf.field

    @property
    def dims(self) -> int:
        """Size of the flow's state, ``data_dims + augment_dims``."""
        return self.data_dims + self.augment_dims

    # ------------------------------------------------------------------ checks
    def _user_parameters(self) -> list[Tensor]:
        return self.vf.user_parameters() + ([] if self.q is None else list(self.q.parameters()))

    def _state(self, name: str, x: Tensor, size: int) -> Tensor:
        parameters = self._user_parameters()
        x = check_state(name, x, device=self.t_span.device, parameters=parameters)
        if x.ndim != 2 or x.shape[1] != size:
            raise ValueError(f"`{name}` must have shape [batch, {size}], got {tuple(x.shape)}.")
        if not parameters:
            self.vf.match_placeholder(x.dtype)
        self.solve.check_resolvable(x.dtype)
        return x

    def _like(self) -> Tensor:
        parameters = self._user_parameters()
        dtype = parameters[0].dtype if parameters else torch.get_default_dtype()
        return torch.empty(0, dtype=dtype, device=self.t_span.device)

    def _times(self, like: Tensor) -> Tensor:
        return self.t_span.to(device=like.device, dtype=like.dtype)

    # ------------------------------------------------------------------ q(e | x)
    def draw_augmentation(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Draw ``e ~ q(e | x)`` (reparameterised) and its log-density.

        Args:
            x: data, ``[batch, data_dims]``.

        Returns:
            ``(e, log_q)``: ``[batch, augment_dims]`` and ``[batch]``.
        """
        batch, p = x.shape[0], self.augment_dims
        noise = x.new_empty(batch, p).normal_()
        log_q = -0.5 * noise.pow(2).sum(1) - 0.5 * p * _LOG_2PI
        if self.q is None:
            return noise, log_q
        mean, log_std = self.q(x)
        return mean + log_std.exp() * noise, log_q - log_std.sum(1)

    # ------------------------------------------------------------------ flows
    def _integrate(self, field: nn.Module, state: Tensor, t: Tensor, norm: ErrorNorm) -> Tensor:
        watched = self.vf.field if isinstance(self.vf.field, nn.Module) else None
        solution = self.solve(
            field,
            state,
            t,
            norm=norm,
            limits=Limits(self.max_nfe, watched),
            record_backward=self._record_backward,
        )
        self._record_forward(solution.stats)
        return solution.ys

    def transform(self, z0: Tensor) -> tuple[Tensor, Tensor]:
        """The flow ``F`` on joint states and its log-determinant.

        Args:
            z0: joint states ``[x, e]`` at ``t_span[0]``, ``[batch, data_dims + augment_dims]``.

        Returns:
            ``(z1, logdet)``: ``F(z0)``, ``[batch, data_dims + augment_dims]``, and
            ``log|det dF/dz0|``, ``[batch]``.
        """
        z0 = self._state("z0", z0, self.dims)
        t = self._times(z0)
        if z0.shape[0] == 0:
            return z0, z0.new_zeros(0)
        # A system per solve: an adjoint's backward solve, however late, keeps its probe.
        field = LogDetField(self.vf, self.trace, self.probe)
        sol = self._integrate(field, field.start(z0), t, ErrorNorm())
        z, logdet = field.split(sol)
        return z[-1], logdet[-1]

    def inverse(self, z1: Tensor) -> Tensor:
        """Invert the flow: solve from ``t_span[-1]`` back to ``t_span[0]``.

        Args:
            z1: latent states, ``[batch, data_dims + augment_dims]``.

        Returns:
            The joint states ``z0`` with ``F(z0) = z1``, ``[batch, data_dims + augment_dims]``.
        """
        z1 = self._state("z1", z1, self.dims)
        if z1.shape[0] == 0:
            return z1
        return self._integrate(self.vf, z1, self._times(z1).flip(0), ErrorNorm())[-1]

    # ------------------------------------------------------------------ density
    def log_prob(self, x: Tensor, *, samples: int = 1) -> Tensor:
        """The lower bound on ``log p(x)`` per sample, in nats.

        With ``samples=1``: ``log N(F(x, e)) + log|det dF| - log q(e | x)`` for one
        ``e ~ q(e | x)``, an unbiased estimate of the evidence lower bound. With
        ``samples=k > 1``: the importance-weighted bound ``logsumexp_i(w_i) - log k``
        over ``k`` draws (Burda et al., 2016), tighter as ``k`` grows; the ``k`` draws
        share one solve. With ``augment_dims=0`` no ``e`` is drawn and the value is the
        log-density itself.

        Args:
            x: data, ``[batch, data_dims]``.
            samples: number ``k`` of draws of ``e`` per data point.

        Returns:
            ``[batch]``.
        """
        x = self._state("x", x, self.data_dims)
        samples = check_positive_int("samples", samples)
        if self.augment_dims == 0:
            samples = 1
        repeated = x.repeat(samples, 1)
        log_q = repeated.new_zeros(repeated.shape[0])
        if self.augment_dims:
            e, log_q = self.draw_augmentation(repeated)
            repeated = torch.cat([repeated, e], dim=1)
        z1, logdet = self.transform(repeated)
        log_base = -0.5 * z1.pow(2).sum(1) - 0.5 * self.dims * _LOG_2PI
        weights = (log_base + logdet - log_q).view(samples, x.shape[0])
        if samples == 1:
            return weights[0]
        return torch.logsumexp(weights, dim=0) - math.log(samples)

    def sample(self, n: int, *, joint: bool = False) -> Tensor:
        """Draw ``n`` samples: ``z ~ N(0, I)`` solved backwards, the data part kept.

        Args:
            n: number of samples.
            joint: return the whole joint state ``[x, e]`` instead of ``x``.

        Returns:
            ``[n, data_dims]`` (``[n, data_dims + augment_dims]`` with ``joint``).
        """
        n = check_non_negative_int("n", n)
        like = self._like()
        z1 = torch.randn(n, self.dims, dtype=like.dtype, device=like.device)
        z0 = self.inverse(z1)
        return z0 if joint else z0[:, : self.data_dims]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(data_dims={self.data_dims}, augment_dims="
            f"{self.augment_dims}, q={self.q_kind!r}, trace={self.trace!r}, "
            f"t_span={self.t_span.tolist()}, nfe={self.nfe})\n  solve: {self.solve!r}\n"
            f"  vector_field: {self.vector_field!r}"
        )
