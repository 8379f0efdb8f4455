"""The native backend's Runge-Kutta step: each method's order and its error estimate."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from native_cases import (
    ADAPTIVE,
    global_error,
    growth,
    growth_solution,
    rotation,
    rotation_solution,
)

from anode_plugin.solve._native import TABLEAUS
from anode_plugin.solve._native._stepper import RungeKuttaStep

pytestmark = pytest.mark.numerics


@pytest.mark.parametrize("name", list(TABLEAUS))
@pytest.mark.parametrize(
    ("field", "solution"), [(rotation, rotation_solution), (growth, growth_solution)]
)
def test_each_method_converges_at_its_order(name, field, solution):
    # The slope of log(error) against log(step) from 32 to 64 steps, measured (the same
    # on AVX512 and under ATEN_CPU_CAPABILITY=default): euler 1.024 / 1.004 (rotation /
    # growth), midpoint 2.009 / 1.940, rk4 4.030 / 4.004, bosh3 3.019 / 3.018, dopri5
    # 5.087 / 5.072, tsit5 5.233 / 5.033. A wrong coefficient costs at least one order.
    # (Fewer steps are not yet asymptotic for tsit5, more reach float64's rounding.)
    order = TABLEAUS[name].order
    errors = [global_error(name, field, solution, n) for n in (32, 64)]
    assert abs(math.log2(errors[0] / errors[1]) - order) < 0.3, (name, errors)


@pytest.mark.parametrize("name", ADAPTIVE)
def test_the_error_estimate_is_the_embedded_pairs_local_error(name):
    # One step's estimate shrinks like dt^order (its embedded solution is one order
    # lower: local error dt^order). Measured slopes from dt = 1/4 to 1/32 (both CPU
    # capabilities): bosh3 3.012-3.048, dopri5 5.012-5.039, tsit5 5.011-5.035.
    x0 = torch.tensor([[1.0, -0.5]], dtype=torch.float64)
    stepper = RungeKuttaStep(TABLEAUS[name], x0)

    def rate(s: float, z: torch.Tensor) -> torch.Tensor:
        return rotation(torch.tensor(s, dtype=torch.float64), z)

    sizes = [1 / 4, 1 / 8, 1 / 16, 1 / 32]
    errors = [float(stepper(rate, 0.0, dt, x0, None).error.abs().max()) for dt in sizes]
    slopes = [math.log2(a / b) for a, b in itertools.pairwise(errors)]
    assert all(abs(s - TABLEAUS[name].order) < 0.25 for s in slopes), slopes
