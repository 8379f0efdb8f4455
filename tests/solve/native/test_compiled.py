"""The native backend's compiled step: the eager solution, exact counts, no recompiling."""

from __future__ import annotations

import pytest
import torch
from helpers import CountingField

from anode_plugin import (
    AugmentedNeuralODE,
    MLPVectorField,
    NFEBudgetExceeded,
)
from anode_plugin.solve import (
    NativeBackend,
    Solve,
)
from anode_plugin.solve._evaluations import Limits

pytestmark = pytest.mark.numerics


def _compile_options() -> dict:
    # aot_eager traces and runs the same graph without inductor's code generation
    # (seconds instead of a cold 16 s): the machinery under test is the same.
    return {"backend": "aot_eager"}


def test_the_compiled_step_gives_the_eager_solution_and_counts():
    torch.manual_seed(0)
    field = MLPVectorField(3, 16).double()
    x0 = torch.randn(8, 3, dtype=torch.float64)
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    eager = NativeBackend(atol=1e-6, rtol=1e-6).integrate(field, x0, t)
    compiled = NativeBackend(atol=1e-6, rtol=1e-6, compile=_compile_options()).integrate(
        field, x0, t
    )
    # Measured 4.4e-16: the same arithmetic, summed in another order.
    torch.testing.assert_close(compiled.ys, eager.ys, rtol=0, atol=1e-13)
    counts = [(s.nfe, s.accepted, s.rejected) for s in (compiled.stats, eager.stats)]
    assert counts[0] == counts[1]


def test_the_compiled_steps_evaluations_are_counted_exactly():
    # The evaluations inside the compiled graph are counted around it: the count equals
    # a counter in the field (its increments are replayed on every call of the graph).
    field = CountingField(3, seed=2).double()
    x = torch.randn(8, 3, dtype=torch.float64)
    backend = NativeBackend(atol=1e-7, rtol=1e-7, compile=_compile_options())
    solution = backend.integrate(field, x, torch.tensor([0.0, 1.0], dtype=torch.float64))
    assert solution.stats.nfe == field.calls >= 14  # measured 20: 2 to start, 3 steps
    with pytest.raises(NFEBudgetExceeded):
        backend.integrate(field, x, torch.tensor([0.0, 1.0]).double(), limits=Limits(max_nfe=9))


def test_a_new_model_of_the_same_shape_reuses_the_compiled_step():
    from torch._dynamo.utils import counters

    x = torch.randn(8, 2)

    def train_step(seed: int) -> None:
        torch.manual_seed(seed)
        model = AugmentedNeuralODE(
            MLPVectorField(3, 16),
            augment_dims=1,
            solve=Solve(NativeBackend(solver="bosh3", compile=_compile_options())),
        )
        model.features(x).pow(2).sum().backward()

    before = counters["stats"]["unique_graphs"]
    train_step(0)
    graphs = counters["stats"]["unique_graphs"]
    # Two graphs for the first model: its first step from an input without gradients,
    # the others from states with them; none per step (a guard on a Python int the field
    # mutates, its call count, once recompiled every step).
    assert graphs - before <= 2
    train_step(1)
    train_step(2)
    assert counters["stats"]["unique_graphs"] == graphs


def test_the_fields_own_count_follows_a_compiled_step():
    # vf.nfe (torchdyn's count) is not counted inside the graph, but around it.
    model = AugmentedNeuralODE(
        MLPVectorField(3, 8),
        augment_dims=1,
        regularisers=("kinetic",),
        solve=Solve(NativeBackend(compile=_compile_options())),
    )
    for _ in range(2):
        model.features(torch.randn(4, 2)).sum().backward()
    assert model.vf.nfe == model.nfe.total > 0
