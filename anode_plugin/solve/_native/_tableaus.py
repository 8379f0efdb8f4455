"""Butcher tableaus of the native backend's explicit Runge-Kutta methods, as floats.

The coefficients are Python floats (binary64), not tensors: a stage is combined with
one fused tensor op whose scalars carry them, so nothing is indexed on the device and
float64 solves keep float64 coefficients.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TABLEAUS", "ButcherTableau"]


@dataclass(frozen=True)
class ButcherTableau:
    """An explicit Runge-Kutta method.

    Attributes:
        name: the solver name users pass (``'dopri5'``).
        c: the nodes, one per stage: stage ``i`` is evaluated at ``t + c[i] dt``.
        a: row ``i`` (for stages ``1 .. s-1``) holds the ``i`` weights of the earlier
            stages in stage ``i``'s input, ``y0 + dt sum_j a[i-1][j] k_j``.
        b: the solution's weights, one per stage.
        error: the error estimate's weights ``b - b_hat``, one per stage (``None``:
            a fixed-step method).
        order: the order of the solution (the step-size exponent is ``1 / order``).
        fsal: first same as last: the last stage is evaluated at the new solution, so
            it is the next step's first stage (one evaluation saved per step).
    """

    name: str
    c: tuple[float, ...]
    a: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]
    error: tuple[float, ...] | None
    order: int
    fsal: bool = False

    def __post_init__(self) -> None:
        stages = len(self.c)
        if len(self.a) != stages - 1 or any(len(r) != i + 1 for i, r in enumerate(self.a)):
            raise ValueError(f"{self.name}: row i of `a` must hold i + 1 weights.")
        if len(self.b) != stages or (self.error is not None and len(self.error) != stages):
            raise ValueError(f"{self.name}: `b` and `error` need one weight per stage.")
        if self.fsal and (self.a[-1] != self.b[:-1] or self.b[-1] != 0.0 or self.c[-1] != 1.0):
            raise ValueError(f"{self.name}: an FSAL method's last stage is its solution.")

    @property
    def stages(self) -> int:
        """The number of stages (evaluations per step, one fewer after the first with
        FSAL)."""
        return len(self.c)

    @property
    def adaptive(self) -> bool:
        """Whether the method estimates its error (adaptive step size)."""
        return self.error is not None


def _embedded(b: tuple[float, ...], b_hat: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(x - y for x, y in zip(b, b_hat, strict=True))


_DOPRI5_B = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0)
_TSIT5_B = (
    0.09646076681806523,
    0.01,
    0.4798896504144996,
    1.379008574103742,
    -3.290069515436081,
    2.324710524099774,
    0.0,
)
_BOSH3_B = (2 / 9, 1 / 3, 4 / 9, 0.0)

#: The methods by name, in increasing order.
TABLEAUS: dict[str, ButcherTableau] = {
    t.name: t
    for t in (
        ButcherTableau("euler", c=(0.0,), a=(), b=(1.0,), error=None, order=1),
        ButcherTableau(
            "midpoint", c=(0.0, 1 / 2), a=((1 / 2,),), b=(0.0, 1.0), error=None, order=2
        ),
        # The classic fourth-order method (torchdyn's 'rk4').
        ButcherTableau(
            "rk4",
            c=(0.0, 1 / 2, 1 / 2, 1.0),
            a=((1 / 2,), (0.0, 1 / 2), (0.0, 0.0, 1.0)),
            b=(1 / 6, 1 / 3, 1 / 3, 1 / 6),
            error=None,
            order=4,
        ),
        # Bogacki & Shampine (1989), order 3(2), FSAL.
        ButcherTableau(
            "bosh3",
            c=(0.0, 1 / 2, 3 / 4, 1.0),
            a=((1 / 2,), (0.0, 3 / 4), _BOSH3_B[:-1]),
            b=_BOSH3_B,
            error=_embedded(_BOSH3_B, (7 / 24, 1 / 4, 1 / 3, 1 / 8)),
            order=3,
            fsal=True,
        ),
        # Dormand & Prince (1980), order 5(4), FSAL. The embedded fourth-order weights are
        # Shampine's (1986), which torchdiffeq and torchdyn use: the same error estimate,
        # so the same steps and NFE as theirs.
        ButcherTableau(
            "dopri5",
            c=(0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0),
            a=(
                (1 / 5,),
                (3 / 40, 9 / 40),
                (44 / 45, -56 / 15, 32 / 9),
                (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
                (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
                _DOPRI5_B[:-1],
            ),
            b=_DOPRI5_B,
            error=_embedded(
                _DOPRI5_B,
                (1951 / 21600, 0.0, 22642 / 50085, 451 / 720, -12231 / 42400, 649 / 6300, 1 / 60),
            ),
            order=5,
            fsal=True,
        ),
        # Tsitouras (2011), order 5(4), FSAL; coefficients of the paper's Table 1.
        ButcherTableau(
            "tsit5",
            c=(0.0, 0.161, 0.327, 0.9, 0.9800255409045097, 1.0, 1.0),
            a=(
                (0.161,),
                (-0.008480655492356989, 0.335480655492357),
                (2.897153057105493, -6.359448489975075, 4.3622954328695815),
                (5.325864828439257, -11.748883564062828, 7.4955393428898365, -0.09249506636175525),
                (
                    5.86145544294642,
                    -12.92096931784711,
                    8.159367898576159,
                    -0.071584973281401,
                    -0.028269050394068383,
                ),
                _TSIT5_B[:-1],
            ),
            b=_TSIT5_B,
            error=_embedded(
                _TSIT5_B,
                (
                    0.09468075576583945,
                    0.009183565540343254,
                    0.4877705284247616,
                    1.234297566930479,
                    -2.7077123499835256,
                    1.866628418170587,
                    1 / 66,
                ),
            ),
            order=5,
            fsal=True,
        ),
    )
}
