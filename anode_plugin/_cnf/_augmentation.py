"""The augmented entries of an ``AugmentedCNF``: drawn (variational) or evolved (exact).

Two ways to give a flow on ``d`` data entries ``p`` more entries to move in:

- **variational** (augmented normalizing flows, Huang, Dinh & Courville, 2020): draw
  ``e ~ q(e | x)`` and fit the joint flow on ``[x, e]``; the likelihood is a lower bound.
  :class:`GaussianQ` is the learned ``q``.
- **exact** (AFFJORD, Haxholli & Lorenzi, 2023): the augmented entries start from a
  learned ``a0`` that does not depend on ``x`` and evolve on their own, ``da/dt = g(t,
  a)``, while the data's velocity ``f(t, [x, a])`` depends on them. The joint map is
  then block triangular, ``x -> x(T)`` a diffeomorphism of the data space for every
  ``a0``, and ``log p(x) = log N(x(T)) + int tr(df/dx) dt`` is exact.
  :class:`ExactAugmentation` holds ``a0`` and ``g``; :class:`ExactAugmentedField` is the
  joint system the solver integrates.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from .._field_call import FieldCall
from .._validation import check_choice, check_positive_int

__all__ = [
    "CNF_AUGMENTATIONS",
    "Q_KINDS",
    "ExactAugmentation",
    "ExactAugmentedField",
    "GaussianQ",
    "build_fields",
    "log_normal",
]

CNF_AUGMENTATIONS = ("variational", "exact")
Q_KINDS = ("standard_normal", "learned")
_LOG_2PI = math.log(2 * math.pi)


def log_normal(z: Tensor) -> Tensor:
    """``log N(z; 0, I)`` per row of ``[batch, n]``: ``[batch]``."""
    return -0.5 * z.pow(2).sum(1) - 0.5 * z.shape[1] * _LOG_2PI


def build_fields(
    vector_field: Callable[..., Any] | nn.Module,
    data_dims: int,
    augment_dims: int,
    augmentation: str,
    q: str,
    q_hidden_dim: int,
    augment_field: Callable[..., Any] | nn.Module | None,
    augment_hidden_dim: int,
) -> tuple[FieldCall, nn.Module, GaussianQ | None, ExactAugmentation | None]:
    """``(vf, field, q, exact)`` of ``AugmentedCNF``'s arguments of the same names: the
    counted user field, the system the solver integrates, the learned ``q`` and the exact
    augmentation (``None`` where the flow has none)."""
    check_choice("augmentation", augmentation, CNF_AUGMENTATIONS)
    check_choice("q", q, Q_KINDS)
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
    if augmentation == "exact" and augment_dims > 0:
        vf = FieldCall(vector_field, out_features=data_dims)
        exact = ExactAugmentation(augment_dims, augment_field, augment_hidden_dim)
        return vf, ExactAugmentedField(vf, exact.field, data_dims), None, exact
    vf = FieldCall(vector_field)
    learned = None
    if q == "learned" and augment_dims > 0:  # p = 0: nothing to learn, nothing built
        learned = GaussianQ(
            data_dims, augment_dims, check_positive_int("q_hidden_dim", q_hidden_dim)
        )
    return vf, vf, learned, None


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


class ExactAugmentation(nn.Module):
    """The exactly augmented entries: a learned start ``a0`` and their own field ``g``.

    ``g`` defaults to a small tanh MLP ``p -> hidden_dim -> p`` (AFFJORD's is ``p -> p + 1
    -> p``); ``a0`` starts at a standard normal draw (AFFJORD: uniform), so that the
    data's field sees distinct augmented entries from the first step.

    Args:
        augment_dims: size ``p`` of the augmented entries, at least 1.
        field: ``g``, any module or callable written as ``g(a)``, ``g(t, a)`` or ``g(t,
            a, args)`` on ``[batch, p]``; ``None`` for the default MLP.
        hidden_dim: hidden width of the default ``g``.

    Shape:
        - ``a``: ``[batch, p]``.
    """

    def __init__(
        self,
        augment_dims: int,
        field: Callable[..., Tensor] | nn.Module | None = None,
        hidden_dim: int = 8,
    ) -> None:
        super().__init__()
        self.augment_dims = check_positive_int("augment_dims", augment_dims)
        if field is None:
            hidden_dim = check_positive_int("augment_hidden_dim", hidden_dim)
            field = nn.Sequential(
                nn.Linear(self.augment_dims, hidden_dim),
                nn.Tanh(),
                nn.Linear(hidden_dim, self.augment_dims),
            )
        self.field = FieldCall(field)
        self.a0 = nn.Parameter(torch.randn(self.augment_dims))

    def start(self, like: Tensor) -> Tensor:
        """``a0`` for each sample of ``like``: ``[batch, p]``."""
        return self.a0.expand(like.shape[0], -1)


class ExactAugmentedField(nn.Module):
    """The joint system ``d[x, a]/dt = [f(t, [x, a]), g(t, a)]`` on ``[batch, d + p]``.

    It holds the two fields only, not ``a0``: the adjoints differentiate the parameters
    the system uses, and ``a0`` reaches the loss through the initial state.

    Args:
        data_field: ``f``, a ``FieldCall`` with ``out_features=d``: the data's velocity
            ``[batch, d]`` from the joint state.
        augment_field: ``g``, a ``FieldCall`` on the augmented entries ``[batch, p]``.
        data_dims: ``d``.
    """

    def __init__(self, data_field: FieldCall, augment_field: FieldCall, data_dims: int) -> None:
        super().__init__()
        self.data_field = data_field
        self.augment_field = augment_field
        self.data_dims = data_dims

    def forward(self, t: Tensor, z: Tensor, args: Any = None) -> Tensor:
        dx = self.data_field(t, z)  # [batch, d], checked by the FieldCall
        # g sees the augmented entries only: that keeps them independent of x.
        da = self.augment_field(t, z[:, self.data_dims :])
        return torch.cat([dx, da], dim=1)
