"""``AugmentedCNF``: a continuous normalizing flow with augmented entries.

The paper's augmentation pads zeros, which a density model cannot do (the flow would
map onto a degenerate set). Two ways that can (see :mod:`._cnf_augmentation`):

- ``augmentation='variational'`` (augmented normalizing flows, Huang, Dinh & Courville,
  2020) draws the ``p`` extra entries ``e ~ q(e | x)`` and fits the joint flow ``F`` on
  ``[x, e]`` with the variational lower bound

      log p(x) >= E_q[ log N(F(x, e); 0, I) + log|det dF/d(x, e)| - log q(e | x) ];

- ``augmentation='exact'`` (AFFJORD, Haxholli & Lorenzi, 2023) starts the extra entries
  at a learned ``a0``, evolves them on their own and lets them steer the data's field:
  ``log p(x)`` is exact, the trace taken over the data entries only.

With ``p = 0`` either is a plain CNF (FFJORD), whose ``log_prob`` is the exact
log-density. Besides maximum likelihood, :meth:`AugmentedCNF.flow_matching_loss`
trains the field without a solve (conditional flow matching).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ._cnf_augmentation import CNF_AUGMENTATIONS, ExactAugmentation, ExactAugmentedField, GaussianQ
from ._field_call import FieldCall
from ._flow_matching import conditional_path
from ._nfe import ModelStats, SolveStatistics
from ._trace import PROBES, TRACES, LogDetField
from ._validation import (
    check_choice,
    check_non_negative_int,
    check_positive_int,
    check_state,
    check_t_span,
)
from .solve import Autograd, ErrorNorm, Solve, SolveAttributes, resolve_solve
from .solve import _defaults as defaults
from .solve._evaluations import Limits

__all__ = ["CNF_AUGMENTATIONS", "Q_KINDS", "AugmentedCNF", "ExactAugmentation", "GaussianQ"]

Q_KINDS = ("standard_normal", "learned")
_LOG_2PI = math.log(2 * math.pi)


#: Intervals of the exact augmentation's path grid (:meth:`AugmentedCNF.augmented_path`).
PATH_INTERVALS = 8


def _log_normal(z: Tensor) -> Tensor:
    """``log N(z; 0, I)`` per row of ``[batch, n]``: ``[batch]``."""
    return -0.5 * z.pow(2).sum(1) - 0.5 * z.shape[1] * _LOG_2PI


class AugmentedCNF(SolveAttributes, SolveStatistics, nn.Module):
    """Augmented continuous normalizing flow on the joint state ``[x, e]``.

    The flow integrates ``dz/dt = f(t, z)`` over ``t_span`` from the joint state
    ``z(t0) = [x, e]`` (data first, then ``augment_dims`` entries) to ``z(t1)``, whose
    density is the standard normal; the log-determinant of the map is integrated
    alongside, ``d(log det)/dt = tr(df/dz)``, in the same solve.

    - ``augmentation='variational'`` (Huang, Dinh & Courville, 2020): ``e ~ q(e | x)``;
      :meth:`log_prob` is a lower bound on ``log p(x)``, importance-weighted with
      ``samples > 1``.
    - ``augmentation='exact'`` (AFFJORD, Haxholli & Lorenzi, 2023): ``e`` starts at a
      learned ``a0`` and follows its own field ``g(t, e)``; the vector field returns the
      data's velocity only (``[batch, data_dims]``), the trace covers the data entries,
      and :meth:`log_prob` is the exact log-density of ``x``.
    - ``augment_dims=0`` is a plain CNF (FFJORD) through the same code path.

    Exact values are exact up to the solve's and, with Hutchinson's trace, the
    estimator's error.

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
        >>> exact = AugmentedCNF(
        ...     MLPVectorField(2 + 1, out_dim=2, activation="tanh"), 2, 1, augmentation="exact"
        ... )
        >>> exact.log_prob(torch.randn(8, 2)).shape
        torch.Size([8])
    """

    def __init__(
        self,
        vector_field: Callable[..., Any] | nn.Module,
        data_dims: int,
        augment_dims: int,
        *,
        augmentation: str = "variational",
        q: str = "standard_normal",
        q_hidden_dim: int = 32,
        augment_field: Callable[..., Any] | nn.Module | None = None,
        augment_hidden_dim: int = 8,
        trace: str = "exact",
        probe: str = "gaussian",
        solver: str | nn.Module = defaults.SOLVER,
        atol: float = defaults.ATOL,
        rtol: float = defaults.RTOL,
        sensitivity: str = defaults.SENSITIVITY,
        t_span: Sequence[float] | Tensor = (0.0, 1.0),
        backend: str | None = None,
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
                ``f(t, x, args)``, on states ``[batch, data_dims + augment_dims]``,
                returning ``dz/dt`` of that shape, or with ``augmentation='exact'`` (and
                ``p > 0``) the data's velocity ``[batch, data_dims]``. Smooth activations
                (tanh, softplus): the trace's gradient needs second derivatives.
            data_dims: size ``d`` of the data vectors.
            augment_dims: number ``p`` of augmented entries; 0 for a plain CNF.
            augmentation: ``'variational'`` (drawn from ``q``, a bound) or ``'exact'``
                (evolved from a learned start, an exact likelihood); see
                :data:`CNF_AUGMENTATIONS`. Ignored with ``augment_dims=0``.
            q: the variational augmentation's distribution: ``'standard_normal'``, or
                ``'learned'``, a diagonal Gaussian given by a small network of ``x``
                (:class:`GaussianQ`). With ``augment_dims=0`` there is nothing to learn:
                ``q`` is ignored and no network is built (``flow.q is None``), so one
                configuration serves plain and augmented flows alike. The exact
                augmentation draws nothing and refuses ``'learned'``.
            q_hidden_dim: hidden width of the learned ``q``'s network.
            augment_field: the exact augmentation's field ``g`` on ``[batch, p]``
                (:class:`ExactAugmentation`); ``None``: a small tanh MLP.
            augment_hidden_dim: hidden width of the default ``g``.
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
            backend: a name from ``BACKENDS``; ``None``: ``'native'``, or ``'torchdyn'``
                for what only torchdyn does (see ``AugmentedNeuralODE``).
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
        check_choice("augmentation", augmentation, CNF_AUGMENTATIONS)
        check_choice("q", q, Q_KINDS)
        check_choice("trace", trace, TRACES)
        check_choice("probe", probe, PROBES)
        max_nfe = None if max_nfe is None else check_positive_int("max_nfe", max_nfe)
        if augment_dims > 0 and augmentation == "exact" and q != "standard_normal":
            raise ValueError(
                f"q={q!r} is the variational augmentation's distribution; "
                "augmentation='exact' draws nothing (its entries start at a learned a0)."
            )
        if augment_dims > 0 and augmentation == "variational" and augment_field is not None:
            raise ValueError(
                "`augment_field` is the exact augmentation's field; with "
                "augmentation='variational' the entries are drawn from q: pass "
                "augmentation='exact' or drop augment_field."
            )
        super().__init__()
        self.solve = solve
        self.data_dims, self.augment_dims = data_dims, augment_dims
        self.augmentation = augmentation
        self.q_kind, self.trace, self.probe = q, trace, probe
        self.max_nfe = max_nfe
        self._statistics = ModelStats()
        self.q: GaussianQ | None = None
        self.exact: ExactAugmentation | None = None
        if augmentation == "exact" and augment_dims > 0:
            self.vf = FieldCall(vector_field, out_features=data_dims)
            self.exact = ExactAugmentation(augment_dims, augment_field, augment_hidden_dim)
            self.field: nn.Module = ExactAugmentedField(self.vf, self.exact.field, data_dims)
        else:
            self.vf = FieldCall(vector_field)
            self.field = self.vf
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
    def is_exact(self) -> bool:
        """Whether ``log_prob`` is the exact log-density (a plain or exactly augmented
        flow), not a bound."""
        return self.augment_dims == 0 or self.augmentation == "exact"

    @property
    def dims(self) -> int:
        """Size of the flow's state, ``data_dims + augment_dims``."""
        return self.data_dims + self.augment_dims

    # ------------------------------------------------------------------ checks
    def _user_parameters(self) -> list[Tensor]:
        extra = self.q if self.q is not None else self.exact
        return self.vf.user_parameters() + ([] if extra is None else list(extra.parameters()))

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
        if self.exact is not None:
            raise ValueError(
                "draw_augmentation is the variational augmentation's; with "
                "augmentation='exact' the entries are not drawn (see augmented_path)."
            )
        batch, p = x.shape[0], self.augment_dims
        noise = x.new_empty(batch, p).normal_()
        log_q = _log_normal(noise)
        if self.q is None:
            return noise, log_q
        mean, log_std = self.q(x)
        return mean + log_std.exp() * noise, log_q - log_std.sum(1)

    # ------------------------------------------------------------------ flows
    def _integrate(
        self,
        field: nn.Module,
        state: Tensor,
        t: Tensor,
        norm: ErrorNorm,
        solve: Solve | None = None,
    ) -> Tensor:
        watched = self.vf.field if isinstance(self.vf.field, nn.Module) else None
        solution = (solve or self.solve)(
            field,
            state,
            t,
            norm=norm,
            limits=Limits(self.max_nfe, watched),
            record_backward=self._record_backward,
        )
        self._record_forward(solution.stats)
        return solution.ys

    def augmented_path(self, s: Tensor) -> Tensor:
        """The exactly augmented entries ``a(t)`` at fractions ``s`` of ``t_span``.

        ``a`` does not depend on the data: one solve of ``da/dt = g(t, a)`` from ``a0``
        serves every sample. The solve stops at :data:`PATH_INTERVALS` ``+ 1`` evenly
        spaced times and ``a`` is interpolated between them by cubic Hermite splines on
        ``a`` and ``da/dt`` (fourth order: about ``1e-7`` of ``a``'s fourth derivative),
        so its cost does not grow with the batch. Gradients: autograd, whatever the
        flow's sensitivity (a tiny state; an adjoint would run one backward solve per
        output time).

        Args:
            s: ``[batch]`` fractions in ``[0, 1]``: ``t = t0 + s (t1 - t0)``, any order.

        Returns:
            ``a(t)`` for each ``s``: ``[batch, augment_dims]``.
        """
        if self.exact is None:
            raise ValueError(
                "`augmented_path` is the exact augmentation's: this flow has "
                f"augmentation={self.augmentation!r}, augment_dims={self.augment_dims}."
            )
        like = self._like()
        t = self._times(like)
        duration = t[-1] - t[0]
        grid = torch.linspace(0.0, 1.0, PATH_INTERVALS + 1, dtype=like.dtype, device=like.device)
        times = t[0] + grid * duration
        a0 = self.exact.a0.unsqueeze(0)  # one row serves the batch: a(t) is shared
        solve = dataclasses.replace(self.solve, gradient=Autograd())
        knots = self._integrate(self.exact.field, a0, times, ErrorNorm(), solve)[:, 0]
        slopes = self.exact.field(times, knots) * (duration / PATH_INTERVALS)  # da per interval
        position = s.detach().to(like.dtype).clamp(0.0, 1.0) * PATH_INTERVALS
        left = position.floor().long().clamp(max=PATH_INTERVALS - 1)
        u = (position - left).unsqueeze(1)
        h00, h10 = (1 + 2 * u) * (1 - u) ** 2, u * (1 - u) ** 2
        h01, h11 = u**2 * (3 - 2 * u), u**2 * (u - 1)
        right = left + 1
        return h00 * knots[left] + h10 * slopes[left] + h01 * knots[right] + h11 * slopes[right]

    def transform(self, z0: Tensor) -> tuple[Tensor, Tensor]:
        """The flow ``F`` on joint states and its log-determinant.

        Args:
            z0: joint states ``[x, e]`` at ``t_span[0]``, ``[batch, data_dims + augment_dims]``.

        Returns:
            ``(z1, logdet)``: ``F(z0)``, ``[batch, data_dims + augment_dims]``, and
            ``log|det dF/dz0|``, ``[batch]`` (with the exact augmentation, that of the
            data's map ``x -> x(t1)``: the trace covers the data entries).
        """
        z0 = self._state("z0", z0, self.dims)
        t = self._times(z0)
        if z0.shape[0] == 0:
            return z0, z0.new_zeros(0)
        traced = self.data_dims if self.exact is not None else None
        # A system per solve: an adjoint's backward solve, however late, keeps its probe.
        field = LogDetField(self.field, self.trace, self.probe, traced)
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
        return self._integrate(self.field, z1, self._times(z1).flip(0), ErrorNorm())[-1]

    # ------------------------------------------------------------------ density
    def log_prob(self, x: Tensor, *, samples: int = 1) -> Tensor:
        """``log p(x)`` per sample, in nats: exact, or the variational lower bound.

        Plain and exactly augmented flows: the log-density, ``log N(x(t1)) + int
        tr(df/dx) dt`` (``samples`` is ignored). Variational augmentation, with
        ``samples=1``: ``log N(F(x, e)) + log|det dF| - log q(e | x)`` for one
        ``e ~ q(e | x)``, an unbiased estimate of the evidence lower bound; with
        ``samples=k > 1``: the importance-weighted bound ``logsumexp_i(w_i) - log k``
        over ``k`` draws (Burda et al., 2016), tighter as ``k`` grows in expectation; the
        ``k`` draws share one solve.

        Args:
            x: data, ``[batch, data_dims]``.
            samples: number ``k`` of draws of ``e`` per data point.

        Returns:
            ``[batch]``.
        """
        x = self._state("x", x, self.data_dims)
        samples = check_positive_int("samples", samples)
        if self.is_exact:
            z0 = x if self.exact is None else torch.cat([x, self.exact.start(x)], dim=1)
            z1, logdet = self.transform(z0)
            return _log_normal(z1[:, : self.data_dims]) + logdet
        repeated = x.repeat(samples, 1)
        e, log_q = self.draw_augmentation(repeated)
        z1, logdet = self.transform(torch.cat([repeated, e], dim=1))
        weights = (_log_normal(z1) + logdet - log_q).view(samples, x.shape[0])
        if samples == 1:
            return weights[0]
        return torch.logsumexp(weights, dim=0) - math.log(samples)

    def flow_matching_loss(
        self, x: Tensor, *, sigma: float = 0.0, coupling: str = "independent"
    ) -> Tensor:
        """The conditional flow-matching loss: no solve of the flow, one field evaluation.

        The straight path from ``z(t0)`` (the data, with their augmented entries) to
        ``z(t1) ~ N(0, I)`` (Lipman et al., 2023; Tong et al., 2024, through torchcfm);
        the field is regressed on its conditional velocity, in ``t``'s units. What
        moves along the path: a plain flow's ``x``; the variational flow's ``[x, e]``
        with ``e ~ q(e | x)`` held fixed (the loss does not train ``q``: keep
        ``q='standard_normal'``, or train ``q`` by the bound afterwards); the exact flow's
        ``x``, with ``a(t)`` from its own solve (:meth:`augmented_path`, a ``p``-entry
        solve shared by the batch) as the field's extra input. Trained this way, the
        flow's :meth:`log_prob` and :meth:`sample` are used as usual.

        Args:
            x: data, ``[batch, data_dims]``.
            sigma: standard deviation of the Gaussian around the path (0: the OT path).
            coupling: ``'independent'`` or ``'ot'`` (minibatch optimal transport); see
                :data:`anode_plugin.COUPLINGS`.

        Returns:
            The squared error summed over the regressed entries, averaged over the
            batch: a scalar.
        """
        x = self._state("x", x, self.data_dims)
        if x.shape[0] == 0:
            raise ValueError("`x` must hold at least one sample, got an empty batch.")
        t = self._times(x)
        duration = t[-1] - t[0]
        source = x
        if self.augment_dims and self.exact is None:
            e, _ = self.draw_augmentation(x)
            source = torch.cat([x, e.detach()], dim=1)
        s, state, velocity = conditional_path(
            source, torch.randn_like(source), sigma=sigma, coupling=coupling
        )
        if self.exact is not None:
            state = torch.cat([state, self.augmented_path(s)], dim=1)
        predicted = self.vf(t[0] + s * duration, state) * duration
        return (predicted - velocity).pow(2).sum(1).mean()

    def sample(self, n: int, *, joint: bool = False) -> Tensor:
        """Draw ``n`` samples: ``z ~ N(0, I)`` solved backwards, the data part kept.

        With the exact augmentation the augmented entries start the backward solve at
        their own ``a(t1)``, not at a draw.

        Args:
            n: number of samples.
            joint: return the whole joint state ``[x, e]`` instead of ``x``.

        Returns:
            ``[n, data_dims]`` (``[n, data_dims + augment_dims]`` with ``joint``).
        """
        n = check_non_negative_int("n", n)
        like = self._like()
        z1 = torch.randn(n, self.dims, dtype=like.dtype, device=like.device)
        if self.exact is not None and n:
            end = self.augmented_path(like.new_ones(1))
            z1 = torch.cat([z1[:, : self.data_dims], end.expand(n, -1)], dim=1)
        z0 = self.inverse(z1)
        return z0 if joint else z0[:, : self.data_dims]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(data_dims={self.data_dims}, augment_dims="
            f"{self.augment_dims}, augmentation={self.augmentation!r}, q={self.q_kind!r}, "
            f"trace={self.trace!r}, "
            f"t_span={self.t_span.tolist()}, nfe={self.nfe})\n  solve: {self.solve!r}\n"
            f"  vector_field: {self.vector_field!r}"
        )
