"""``AugmentedCNF``: a continuous normalizing flow with augmented entries (see the
package's docstring for the two augmentations)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .._solved import flat_solve_options
from .._validation import check_non_negative_int, check_positive_int
from ..solve import Solve
from ..solve import _defaults as defaults
from ._augmentation import build_fields, log_normal
from ._flow_matching import FlowMatching
from ._trace import LogDetField, check_log_det

__all__ = ["AugmentedCNF"]


class AugmentedCNF(FlowMatching, nn.Module):
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
        data_dims = check_positive_int("data_dims", data_dims)
        augment_dims = check_non_negative_int("augment_dims", augment_dims)
        options = flat_solve_options(locals())
        super().__init__()
        self._init_solve(solve, options, max_nfe, t_span)
        check_log_det(trace, probe, self.solve.sensitivity)
        self.data_dims, self.augment_dims, self.augmentation = data_dims, augment_dims, augmentation
        self.q_kind, self.trace, self.probe = q, trace, probe
        kind = (augmentation, q, q_hidden_dim, augment_field, augment_hidden_dim)
        self.vf, self.field, self.q, self.exact = build_fields(
            vector_field, data_dims, augment_dims, *kind
        )

    @property
    def vector_field(self) -> Callable[..., Tensor]:
        """The user's vector field, as given."""
        return self.vf.field

    def transform(self, z0: Tensor) -> tuple[Tensor, Tensor]:
        """The flow ``F`` on joint states and its log-determinant.

        Args:
            z0: joint states ``[x, e]`` at ``t_span[0]``, ``[batch, data_dims + augment_dims]``.

        Returns:
            ``(z1, logdet)``: ``F(z0)``, ``[batch, data_dims + augment_dims]``, and
            ``log|det dF/dz0|``, ``[batch]`` (with the exact augmentation, that of the
            data's map ``x -> x(t1)``: the trace covers the data entries).
        """
        z0 = self._data("z0", z0, self.dims)
        t = self._times(None, z0)
        if z0.shape[0] == 0:
            return z0, z0.new_zeros(0)
        traced = self.data_dims if self.exact is not None else None
        # A system per solve: an adjoint's backward solve, however late, keeps its probe.
        field = LogDetField(self.field, self.trace, self.probe, traced)
        sol = self._integrate(field, field.start(z0), t)
        z, logdet = field.split(sol)
        return z[-1], logdet[-1]

    def inverse(self, z1: Tensor) -> Tensor:
        """Invert the flow: solve from ``t_span[-1]`` back to ``t_span[0]``.

        Args:
            z1: latent states, ``[batch, data_dims + augment_dims]``.

        Returns:
            The joint states ``z0`` with ``F(z0) = z1``, ``[batch, data_dims + augment_dims]``.
        """
        z1 = self._data("z1", z1, self.dims)
        if z1.shape[0] == 0:
            return z1
        return self._integrate(self.field, z1, self._times(None, z1).flip(0))[-1]

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
        x = self._data("x", x, self.data_dims)
        samples = check_positive_int("samples", samples)
        if self.is_exact:
            z0 = x if self.exact is None else torch.cat([x, self.exact.start(x)], dim=1)
            z1, logdet = self.transform(z0)
            return log_normal(z1[:, : self.data_dims]) + logdet
        repeated = x.repeat(samples, 1)
        e, log_q = self.draw_augmentation(repeated)
        z1, logdet = self.transform(torch.cat([repeated, e], dim=1))
        weights = (log_normal(z1) + logdet - log_q).view(samples, x.shape[0])
        if samples == 1:
            return weights[0]
        return torch.logsumexp(weights, dim=0) - math.log(samples)

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
        kind = f"augmentation={self.augmentation!r}, q={self.q_kind!r}, trace={self.trace!r}"
        return (
            f"{type(self).__name__}(data_dims={self.data_dims}, augment_dims={self.augment_dims}, "
            f"{kind}, t_span={self.t_span.tolist()}, nfe={self.nfe})\n  solve: {self.solve!r}\n"
            f"  vector_field: {self.vector_field!r}"
        )
