"""Exact NFE accounting: the model's record against a counter inside the vector field."""

from __future__ import annotations

import dataclasses
import pickle
import subprocess
import sys

import pytest
import torch
from helpers import BACKEND_SENSITIVITIES, CountingField, LinearField
from hypothesis import given, settings
from hypothesis import strategies as st

from anode_plugin import (
    BACKENDS,
    AugmentedNeuralODE,
    MLPVectorField,
    NFEBudgetExceeded,
    NFERecord,
    StepRecord,
)

pytestmark = pytest.mark.numerics


def _forward_then_backward(model: AugmentedNeuralODE, field: CountingField, x: torch.Tensor):
    """The classic count: read the field's counter after forward, reset, read after backward."""
    model.reset_nfe()
    field.calls = 0
    features = model.features(x)
    forward_calls = field.calls
    forward_record = model.nfe
    field.calls = 0
    features.pow(2).sum().backward()
    return forward_calls, forward_record, field.calls, model.nfe


@pytest.mark.parametrize(("backend", "sensitivity"), BACKEND_SENSITIVITIES)
def test_nfe_equals_an_independent_count(backend, sensitivity):
    field = CountingField(2 + 2, seed=1)
    model = AugmentedNeuralODE(field, augment_dims=2, backend=backend, sensitivity=sensitivity)
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(0))
    forward_calls, after_forward, backward_calls, after_backward = _forward_then_backward(
        model, field, x
    )
    assert forward_calls > 0
    assert after_forward == NFERecord(forward=forward_calls, backward=0)
    assert after_backward == NFERecord(forward=forward_calls, backward=backward_calls)
    assert after_backward.total == forward_calls + backward_calls
    if sensitivity == "autograd":
        assert backward_calls == 0  # backprop through the solver never calls the field
    else:
        assert backward_calls > 0  # the adjoint solve does


@pytest.mark.parametrize(("backend", "sensitivity"), BACKEND_SENSITIVITIES)
@settings(max_examples=4, deadline=None)
@given(batch=st.integers(1, 12), augment_dims=st.integers(0, 3), seed=st.integers(0, 100))
def test_nfe_exact_for_random_sizes(backend, sensitivity, batch, augment_dims, seed):
    field = CountingField(1 + augment_dims, hidden=8, seed=seed)
    model = AugmentedNeuralODE(
        field, augment_dims=augment_dims, backend=backend, sensitivity=sensitivity
    )
    x = torch.randn(batch, 1, generator=torch.Generator().manual_seed(seed))
    forward_calls, after_forward, backward_calls, after_backward = _forward_then_backward(
        model, field, x
    )
    assert after_forward == NFERecord(forward_calls, 0)
    assert after_backward == NFERecord(forward_calls, backward_calls)


def test_nfe_accumulates_until_reset():
    field = CountingField(3)
    model = AugmentedNeuralODE(field, augment_dims=1)
    x = torch.randn(4, 2)
    model.features(x)
    model.features(x)
    assert model.nfe.forward == field.calls
    model.reset_nfe()
    assert model.nfe == NFERecord(0, 0)
    assert model.nfe.total == 0


def test_nfe_counts_images():
    from anode_plugin import ConvVectorField

    torch.manual_seed(0)
    conv = ConvVectorField(1 + 1, 4)
    calls = []
    conv.register_forward_pre_hook(lambda *_: calls.append(1))
    model = AugmentedNeuralODE(conv, augment_dims=1, sensitivity="adjoint")
    model.features(torch.randn(2, 1, 4, 4)).sum().backward()
    assert model.nfe.total == len(calls)
    assert model.nfe.backward > 0


def test_nfe_record_is_immutable_and_adds():
    record = NFERecord(forward=3, backward=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.forward = 5  # type: ignore[misc]
    assert record.total == 5
    assert record + NFERecord(1, 1) == NFERecord(4, 3)
    assert sum([record, record, record], NFERecord()) == NFERecord(9, 6)
    assert record - NFERecord(1, 2) == NFERecord(2, 0)
    assert record.as_dict() == {"forward": 3, "backward": 2, "total": 5}
    assert pickle.loads(pickle.dumps(record)) == record
    assert hash(record) == hash(NFERecord(3, 2))


def test_nfe_record_of_the_model_is_a_snapshot():
    model = AugmentedNeuralODE(CountingField(2), augment_dims=0)
    before = model.nfe
    model.features(torch.randn(3, 2))
    assert before == NFERecord(0, 0)
    assert model.nfe.forward > 0


# ---------------------------------------------------------------------- budget
def _stiff_model(max_nfe: int | None, backend: str = "torchdyn") -> AugmentedNeuralODE:
    # dx/dt = -1000 x: an explicit solver's stability limits the step to ~3e-3, so dopri5
    # needs well over a thousand evaluations on [0, 1].
    return AugmentedNeuralODE(
        LinearField(-1000.0), augment_dims=0, atol=1e-8, rtol=1e-8, max_nfe=max_nfe, backend=backend
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_budget_stops_a_stiff_solve(backend):
    model = _stiff_model(50, backend)
    with pytest.raises(
        NFEBudgetExceeded, match=r"after 51 forward evaluations.*max_nfe=50"
    ) as info:
        model.features(torch.ones(2, 1))
    error = info.value
    assert isinstance(error, RuntimeError)
    assert (error.nfe, error.budget) == (51, 50)
    assert "atol" in str(error) and "augment_dims" in str(error)  # says what to try
    assert pickle.loads(pickle.dumps(error)).budget == 50


def test_budget_applies_to_each_solve():
    unlimited = _stiff_model(None)
    unlimited.features(torch.ones(2, 1))
    needed = unlimited.nfe.forward
    assert needed > 1000
    model = _stiff_model(needed)
    for _ in range(2):  # the second solve gets the whole budget again
        model.features(torch.ones(2, 1))
    assert model.nfe.forward == 2 * needed
    with pytest.raises(NFEBudgetExceeded, match=rf"max_nfe={needed - 1}\b"):
        _stiff_model(needed - 1).features(torch.ones(2, 1))


def test_budget_does_not_stop_a_gentle_solve():
    model = AugmentedNeuralODE(CountingField(3), augment_dims=1, max_nfe=200)
    model.features(torch.randn(4, 2))
    assert 0 < model.nfe.forward <= 200


def test_uncounted_leaves_evaluations_out_of_the_record():
    torch.manual_seed(0)
    model = AugmentedNeuralODE(MLPVectorField(3, 8), augment_dims=1)
    x = torch.randn(4, 2)
    model(x)
    before = model.nfe
    assert before.forward > 0
    with model.uncounted():
        model.features(x)
        assert model.nfe.forward > before.forward  # counted inside, as usual...
    assert model.nfe == before  # ...and restored on exit
    model(x)
    assert model.nfe.forward == 2 * before.forward


# ------------------------------------------------------------ budget of backward solves
_ADJOINTS = [
    ("torchdyn", "adjoint", None),  # torchdyn's own adjoint
    ("torchdyn", "adjoint", True),  # our backsolve adjoint
    ("torchdiffeq", "adjoint", None),
]


def _tight_adjoint(backend: str, sensitivity: str, seminorm, max_nfe: int) -> AugmentedNeuralODE:
    # A loose forward solve (a few dozen evaluations) and a tight adjoint (hundreds).
    torch.manual_seed(0)
    field = MLPVectorField(3, 16, activation="tanh").double()
    return AugmentedNeuralODE(
        field,
        augment_dims=1,
        backend=backend,
        sensitivity=sensitivity,
        seminorm=seminorm,
        max_nfe=max_nfe,
        atol_adjoint=1e-11,
        rtol_adjoint=1e-11,
    )


@pytest.mark.parametrize(("backend", "sensitivity", "seminorm"), _ADJOINTS)
def test_budget_stops_a_backward_solve(backend, sensitivity, seminorm):
    x = torch.randn(16, 2, dtype=torch.float64)
    unbounded = _tight_adjoint(backend, sensitivity, seminorm, max_nfe=10_000)
    unbounded.features(x).pow(2).sum().backward()
    forward, backward = unbounded.nfe.forward, unbounded.nfe.backward
    assert forward < backward  # the premise: only the backward solve is long
    budget = (forward + backward) // 2
    model = _tight_adjoint(backend, sensitivity, seminorm, max_nfe=budget)
    features = model.features(x)  # the forward solve fits the budget
    with pytest.raises(
        NFEBudgetExceeded, match=r"The backward \(adjoint\) ODE solve was stopped"
    ) as info:
        features.pow(2).sum().backward()
    assert (info.value.direction, info.value.nfe, info.value.budget) == (
        "backward",
        budget + 1,
        budget,
    )
    assert "atol_adjoint" in str(info.value)
    assert pickle.loads(pickle.dumps(info.value)).direction == "backward"


@pytest.mark.parametrize(("backend", "sensitivity", "seminorm"), _ADJOINTS)
def test_the_backward_budget_applies_to_each_backward_solve(backend, sensitivity, seminorm):
    x = torch.randn(16, 2, dtype=torch.float64)
    probe = _tight_adjoint(backend, sensitivity, seminorm, max_nfe=10_000)
    probe.features(x).pow(2).sum().backward()
    budget = max(probe.nfe.forward, probe.nfe.backward) + 1
    model = _tight_adjoint(backend, sensitivity, seminorm, max_nfe=budget)
    for _ in range(3):  # three backward solves, together far over one budget
        model.features(x).pow(2).sum().backward()
    assert model.nfe.backward == 3 * probe.nfe.backward


def test_direction_needs_no_private_torch_function():
    # NFE direction used to be read from torch._C._current_graph_task_id, bound at import:
    # a torch release without it would have broken `import anode_plugin`.
    script = """
import torch
del torch._C._current_graph_task_id
from anode_plugin import BACKENDS, AugmentedNeuralODE, MLPVectorField
class Field(MLPVectorField):
    calls = 0
    def forward(self, t, x, args=None):
        type(self).calls += 1
        return super().forward(t, x)
for backend in BACKENDS:
    model = AugmentedNeuralODE(Field(3), augment_dims=1, backend=backend, sensitivity="adjoint")
    Field.calls = 0
    features = model.features(torch.randn(4, 2))
    forward = Field.calls
    features.sum().backward()
    assert model.nfe.forward == forward > 0, (model.nfe, forward)
    assert model.nfe.backward == Field.calls - forward > 0, (model.nfe, Field.calls)
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_records_subtract_and_step_records_add_field_by_field():
    assert NFERecord(5, 7) - NFERecord(2, 3) == NFERecord(3, 4)
    first, second = StepRecord(1, 2, 3, 4), StepRecord(10, 20, 30, 40)
    assert first + second == StepRecord(11, 22, 33, 44)
    assert sum([first, second, first], StepRecord()) == StepRecord(12, 24, 36, 48)
    assert (first.accepted, first.rejected) == (4, 6)
    assert first.as_dict() == {
        "forward_accepted": 1,
        "forward_rejected": 2,
        "backward_accepted": 3,
        "backward_rejected": 4,
        "accepted": 4,
        "rejected": 6,
    }
    for other in (NFERecord(1, 2), 3):  # records of one kind only
        with pytest.raises(TypeError):
            first + other
    with pytest.raises(TypeError):
        NFERecord(1, 2) - StepRecord()


def test_model_stats_add_the_solves_and_keep_the_last_forward_one():
    from anode_plugin import ModelStats
    from anode_plugin.solve import PerSampleStats, SolveStats

    per = PerSampleStats.joint(3, 14, 2, 1)
    assert per.nfe.tolist() == [14] * 3 and per.accepted.tolist() == [2] * 3
    assert per.rejected.tolist() == [1] * 3 and per.batch == 3 and per.nfe.dtype == torch.long
    stats = ModelStats()
    assert stats.per_sample is None and stats.last is None
    first = SolveStats(14, 2, 1, per)
    stats = stats.forward(first).backward(SolveStats(40, 6, 2))
    assert stats.nfe == NFERecord(14, 40)
    assert stats.steps == StepRecord(2, 1, 6, 2)
    assert stats.last is first and stats.per_sample is per  # a backward solve keeps it
    second = SolveStats(20, 3, 0)
    stats = stats.forward(second)
    assert stats.nfe == NFERecord(34, 40) and stats.last is second and stats.per_sample is None
    assert SolveStats(1, 2, 3) + SolveStats(10, 20, 30) == SolveStats(11, 22, 33)
    assert PerSampleStats.summary_of(torch.tensor([], dtype=torch.long)) == {
        "mean": 0.0,
        "p90": 0.0,
        "max": 0.0,
    }


def test_the_fields_torchdyn_count_follows_the_records():
    model = AugmentedNeuralODE(MLPVectorField(3), augment_dims=1, sensitivity="adjoint")
    x = torch.randn(4, 2)
    model.features(x).sum().backward()
    assert model.vf.nfe == model.nfe.total > model.nfe.forward
    with model.uncounted():
        model.features(x)
    assert model.vf.nfe == model.nfe.total
    before = model.stats
    with model.uncounted():
        model.features(torch.randn(7, 2))
    assert model.stats is before and model.stats.per_sample.batch == 4
    model.reset_nfe()
    assert model.vf.nfe == 0 and model.stats.last is None and model.nfe == NFERecord()
    model.vf.nfe = 5  # torchdyn users reset or set it by hand: it goes on from there
    model.features(x)
    assert model.vf.nfe == 5 + model.nfe.forward


def test_the_fields_own_calls_count_as_torchdyn_counts_them():
    # torchdyn's tutorials call model.vf(t, x) directly and read vf.nfe: every call of the
    # field counts there; the solves' records (model.nfe) are not touched.
    model = AugmentedNeuralODE(MLPVectorField(3), augment_dims=1)
    state = torch.randn(4, 3)
    model.vf(torch.tensor(0.0), state)
    model.vf(torch.tensor(0.5), state)
    assert model.vf.nfe == 2 and model.nfe == NFERecord()
    model.features(torch.randn(4, 2))
    assert model.vf.nfe == 2 + model.nfe.forward


def test_assigning_zero_to_nfe_resets_the_counts():
    model = AugmentedNeuralODE(MLPVectorField(3), augment_dims=1)
    model.features(torch.randn(4, 2))
    assert model.nfe.forward > 0
    model.nfe = 0  # torchdyn's CNF tutorial resets its counter so
    assert model.nfe == NFERecord() and model.vf.nfe == 0 and model.steps == StepRecord()
    for value in (3, -1, True, "0"):
        with pytest.raises(
            ValueError, match=r"`nfe` counts the solves' evaluations: it can only be reset"
        ):
            model.nfe = value
