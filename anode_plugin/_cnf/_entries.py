"""The augmented entries of an ``AugmentedCNF`` at work: drawn from ``q(e | x)``
(variational) or evolved along their own path ``a(t)`` (exact)."""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from .._solved import SolvedModel
from ..solve import Autograd
from ._augmentation import ExactAugmentation, GaussianQ, log_normal

__all__ = ["PATH_INTERVALS", "AugmentedEntries"]

#: Intervals of the exact augmentation's path grid (:meth:`AugmentedCNF.augmented_path`).
PATH_INTERVALS = 8


class AugmentedEntries(SolvedModel):
    """``AugmentedCNF``'s augmented entries: :meth:`draw_augmentation` and
    :meth:`augmented_path`."""

    data_dims: int
    augment_dims: int
    augmentation: str
    q: GaussianQ | None
    exact: ExactAugmentation | None

    @property
    def is_exact(self) -> bool:
        """Whether ``log_prob`` is the exact log-density (a plain or exactly augmented
        flow), not a bound."""
        return self.augment_dims == 0 or self.augmentation == "exact"

    @property
    def dims(self) -> int:
        """Size of the flow's state, ``data_dims + augment_dims``."""
        return self.data_dims + self.augment_dims

    def _user_parameters(self) -> list[Tensor]:
        extra = self.q if self.q is not None else self.exact
        return self.vf.user_parameters() + ([] if extra is None else list(extra.parameters()))

    def _data(self, name: str, x: Tensor, size: int) -> Tensor:
        """``x`` checked as a state of ``size`` entries per sample, ``[batch, size]``."""
        x = self._check_state(name, x)
        if x.ndim != 2 or x.shape[1] != size:
            raise ValueError(f"`{name}` must have shape [batch, {size}], got {tuple(x.shape)}.")
        return x

    def _like(self) -> Tensor:
        """An empty tensor of the flow's dtype and device (its parameters', else the default)."""
        parameters = self._user_parameters()
        dtype = parameters[0].dtype if parameters else torch.get_default_dtype()
        return torch.empty(0, dtype=dtype, device=self.t_span.device)

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
        noise = x.new_empty(x.shape[0], self.augment_dims).normal_()
        log_q = log_normal(noise)
        if self.q is None:
            return noise, log_q
        mean, log_std = self.q(x)
        return mean + log_std.exp() * noise, log_q - log_std.sum(1)

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
        t = self._times(None, like)
        duration = t[-1] - t[0]
        grid = torch.linspace(0.0, 1.0, PATH_INTERVALS + 1, dtype=like.dtype, device=like.device)
        times = t[0] + grid * duration
        a0 = self.exact.a0.unsqueeze(0)  # one row serves the batch: a(t) is shared
        solve = dataclasses.replace(self.solve, gradient=Autograd())
        knots = self._integrate(self.exact.field, a0, times, solve=solve)[:, 0]
        slopes = self.exact.field(times, knots) * (duration / PATH_INTERVALS)  # da per interval
        position = s.detach().to(like.dtype).clamp(0.0, 1.0) * PATH_INTERVALS
        left = position.floor().long().clamp(max=PATH_INTERVALS - 1)
        u = (position - left).unsqueeze(1)
        h00, h10 = (1 + 2 * u) * (1 - u) ** 2, u * (1 - u) ** 2
        h01, h11 = u**2 * (3 - 2 * u), u**2 * (u - 1)
        right = left + 1
        return h00 * knots[left] + h10 * slopes[left] + h01 * knots[right] + h11 * slopes[right]
