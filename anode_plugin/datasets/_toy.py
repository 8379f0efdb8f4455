"""The paper's toy data sets (sections 3, 4 and 5.1), seeded and exact.

Every generator takes a ``seed`` and returns ``(x, y)`` float32 tensors with
``x: [n, d]`` and ``y: [n, 1]``; the same seed always gives the same data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from .._validation import check_non_negative_int, check_positive_float, check_positive_int

__all__ = [
    "concentric_spheres",
    "g1d",
    "held_out_slices",
    "sample_in_shell",
    "shifted_sines",
    "spheres_generalisation_split",
]


def _generator(seed: int) -> torch.Generator:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"`seed` must be an integer, got {seed!r}.")
    return torch.Generator().manual_seed(seed)


def g1d(
    *, num_points: int = 64, flip: bool = True, noise_scale: float = 0.0, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """The 1-D map of section 3: ``g1d(-1) = 1`` and ``g1d(1) = -1``.

    Half of the points are ``x = -1`` and half ``x = 1`` (one more ``-1`` when
    ``num_points`` is odd), in a seeded random order.

    Args:
        num_points: number of points.
        flip: ``True`` for the target ``-x`` (``g1d``); ``False`` for the identity ``x``.
        noise_scale: standard deviation of Gaussian noise added to the inputs (not targets).
        seed: random seed.

    Returns:
        ``(x, y)``, each ``[num_points, 1]``.
    """
    num_points = check_positive_int("num_points", num_points)
    if noise_scale != 0.0:
        check_positive_float("noise_scale", noise_scale)
    gen = _generator(seed)
    signs = torch.ones(num_points)
    signs[: (num_points + 1) // 2] = -1.0
    signs = signs[torch.randperm(num_points, generator=gen)]
    x = signs.clone()
    if noise_scale > 0:
        x = x + noise_scale * torch.randn(num_points, generator=gen)
    y = -signs if flip else signs
    return x.unsqueeze(1), y.unsqueeze(1)


def sample_in_shell(
    num_points: int, dim: int, r_lo: float, r_hi: float, *, generator: torch.Generator
) -> Tensor:
    """Points exactly uniform in the shell ``r_lo <= |x| <= r_hi`` of ``R^dim``.

    The direction is a normalised Gaussian; the radius is drawn by the inverse CDF
    of the radius of a uniform point, ``r = (r_lo^d + U (r_hi^d - r_lo^d))^(1/d)``.
    ``r_lo = 0`` gives the ball.

    Returns:
        ``[num_points, dim]`` float32.
    """
    num_points = check_non_negative_int("num_points", num_points)
    dim = check_positive_int("dim", dim)
    if r_lo < 0 or not r_hi > r_lo:
        raise ValueError(f"Radii must satisfy 0 <= r_lo < r_hi, got r_lo={r_lo}, r_hi={r_hi}.")
    direction = torch.randn(num_points, dim, generator=generator, dtype=torch.float64)
    norms = direction.norm(dim=1, keepdim=True)
    # A zero Gaussian draw has probability zero, but guard it rather than divide by 0.
    direction = torch.where(norms > 0, direction / norms.clamp_min(1e-300), 1.0 / math.sqrt(dim))
    u = torch.rand(num_points, 1, generator=generator, dtype=torch.float64)
    radius = (r_lo**dim + u * (r_hi**dim - r_lo**dim)) ** (1.0 / dim)
    points = (direction * radius).float()
    # float32 rounding can leave a radius one ulp outside [r_lo, r_hi]: nudge those
    # points back in, so that the radii are in range exactly as float32 computes them.
    for _ in range(8):
        norm32 = points.norm(dim=1, keepdim=True)
        high, low = norm32 > r_hi, (norm32 < r_lo) & (norm32 > 0)
        if not bool(high.any() or low.any()):
            break
        points = torch.where(
            high, points * (1 - 2e-7), torch.where(low, points * (1 + 2e-7), points)
        )
    return points


def _check_radii(r1: float, r2: float, r3: float) -> None:
    if not 0 < r1 < r2 < r3:
        raise ValueError(f"Radii must satisfy 0 < r1 < r2 < r3, got r1={r1}, r2={r2}, r3={r3}.")


def concentric_spheres(
    *,
    dim: int = 2,
    num_inner: int = 500,
    num_outer: int = 1500,
    r1: float = 0.5,
    r2: float = 1.0,
    r3: float = 1.5,
    seed: int = 0,
) -> tuple[Tensor, Tensor]:
    """The function of section 4: a ball inside an annulus in ``R^dim``.

    Label ``-1`` for ``|x| <= r1`` and ``+1`` for ``r2 <= |x| <= r3``, points uniform
    in each region. The ``num_inner`` inner points come first.

    Returns:
        ``(x, y)`` with ``x: [num_inner + num_outer, dim]``, ``y: [..., 1]`` in ``{-1, 1}``.
    """
    dim = check_positive_int("dim", dim)
    num_inner = check_non_negative_int("num_inner", num_inner)
    num_outer = check_non_negative_int("num_outer", num_outer)
    if num_inner + num_outer == 0:
        raise ValueError("`num_inner + num_outer` must be positive, got 0.")
    _check_radii(r1, r2, r3)
    gen = _generator(seed)
    inner = sample_in_shell(num_inner, dim, 0.0, r1, generator=gen)
    outer = sample_in_shell(num_outer, dim, r2, r3, generator=gen)
    x = torch.cat([inner, outer])
    y = torch.cat([-torch.ones(num_inner, 1), torch.ones(num_outer, 1)])
    return x, y


def shifted_sines(
    *,
    dim: int = 2,
    num_upper: int = 1500,
    num_lower: int = 1500,
    shift: float = 1.4,
    noise_scale: float = 0.1,
    seed: int = 0,
) -> tuple[Tensor, Tensor]:
    """The separable counterpart: two sine curves, shifted apart vertically.

    ``u ~ U(-1, 1)``, ``v = sin(pi u) + noise +/- shift/2``: label ``+1`` for the upper
    curve and ``-1`` for the lower one. ``dim=1`` keeps ``v`` only; ``dim > 2`` appends
    ``U(-1, 1)`` coordinates. A homeomorphism (a vertical shear) separates the classes.

    Returns:
        ``(x, y)`` with ``x: [num_upper + num_lower, dim]``, ``y: [..., 1]`` in ``{-1, 1}``.
    """
    dim = check_positive_int("dim", dim)
    num_upper = check_non_negative_int("num_upper", num_upper)
    num_lower = check_non_negative_int("num_lower", num_lower)
    if num_upper + num_lower == 0:
        raise ValueError("`num_upper + num_lower` must be positive, got 0.")
    if noise_scale != 0.0:
        check_positive_float("noise_scale", noise_scale)
    check_positive_float("shift", shift)
    gen = _generator(seed)
    n = num_upper + num_lower
    labels = torch.cat([torch.ones(num_upper), -torch.ones(num_lower)])
    u = 2 * torch.rand(n, generator=gen) - 1
    v = torch.sin(math.pi * u) + noise_scale * torch.randn(n, generator=gen) + labels * shift / 2
    if dim == 1:
        x = v.unsqueeze(1)
    else:
        extra = 2 * torch.rand(n, dim - 2, generator=gen) - 1
        x = torch.cat([u.unsqueeze(1), v.unsqueeze(1), extra], dim=1)
    return x, labels.unsqueeze(1)


def held_out_slices(x: Tensor, slices: Sequence[tuple[float, float]]) -> Tensor:
    """Mask of the 2-D points whose angle ``atan2(x2, x1) mod 2 pi`` lies in a slice.

    Args:
        x: points ``[n, 2]``.
        slices: half-open angle intervals ``[a, b)`` in radians, within ``[0, 2 pi]``.

    Returns:
        Boolean mask ``[n]``.
    """
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"`x` must have shape [n, 2], got {tuple(x.shape)}.")
    angle = torch.remainder(torch.atan2(x[:, 1].double(), x[:, 0].double()), 2 * math.pi)
    mask = torch.zeros(x.shape[0], dtype=torch.bool)
    for lo, hi in slices:
        if not 0 <= lo < hi <= 2 * math.pi + 1e-12:
            raise ValueError(f"Each slice must satisfy 0 <= a < b <= 2*pi, got ({lo}, {hi}).")
        mask |= (angle >= lo) & (angle < hi)
    return mask


def spheres_generalisation_split(
    *,
    num_inner: int = 500,
    num_outer: int = 1500,
    r1: float = 0.5,
    r2: float = 1.0,
    r3: float = 1.5,
    slices: Sequence[tuple[float, float]] = ((0.0, math.pi / 5),),
    seed: int = 0,
) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """Section 5.1's generalisation test: 2-D spheres with angular slices held out.

    Points whose angle lies in ``slices`` form the validation set; the rest train.

    Returns:
        ``((x_train, y_train), (x_val, y_val))``.
    """
    x, y = concentric_spheres(
        dim=2, num_inner=num_inner, num_outer=num_outer, r1=r1, r2=r2, r3=r3, seed=seed
    )
    mask = held_out_slices(x, slices)
    if bool(mask.all()) or not bool(mask.any()):
        raise ValueError(
            f"`slices`={list(slices)} must hold out some but not all points; "
            f"it holds out {int(mask.sum())} of {len(mask)}."
        )
    return (x[~mask], y[~mask]), (x[mask], y[mask])
