"""SONODE's pieces (Norcliffe et al., 2020): ``SecondOrderAugmenter`` (``[x, 0, v0]``) and
``SecondOrderField`` (the acceleration as a first-order system)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from anode_plugin import (
    BACKENDS,
    AugmentedNeuralODE,
    SecondOrderAugmenter,
    SecondOrderField,
    StateShapeError,
)

pytestmark = pytest.mark.numerics

D, P = 2, 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_second_order_integrates_the_acceleration(backend):
    """x'' = -x from x(0) = x0, v(0) = 0 is x0 cos t: the field returns the acceleration."""

    def acceleration(t, z):
        return -z[:, :1]  # sees [x, v], returns x''

    model = AugmentedNeuralODE(
        acceleration,
        augment_dims=0,
        augmentation="second_order",
        backend=backend,
        atol=1e-9,
        rtol=1e-9,
    ).double()
    x0 = torch.tensor([[1.0], [-0.5]], dtype=torch.float64)
    z = model.features(x0, t_span=(0.0, 2.0))
    expected = torch.cat([x0 * math.cos(2.0), -x0 * math.sin(2.0)], dim=1)
    # Measured: 1.7e-8 (both CPU capabilities, benchmarks/tolerance_audit.py).
    torch.testing.assert_close(z, expected, atol=1.5e-7, rtol=0.0)
    assert model.vector_field is acceleration
    assert isinstance(model.vf.field, SecondOrderField)


def test_second_order_state_layout_and_placement():
    x = torch.tensor([[1.0, 2.0]])
    last = SecondOrderAugmenter(1, 1)
    first = SecondOrderAugmenter(1, 1, placement="first")
    assert last(x).tolist() == [[1.0, 2.0, 0.0, 0.0, 0.0, 0.0]]
    assert first(x).tolist() == [[0.0, 1.0, 2.0, 0.0, 0.0, 0.0]]
    for aug in (last, first):
        assert torch.equal(aug.strip(aug(x)), x)
    learned = SecondOrderAugmenter(1, 1, initial_velocity="learned")
    z = learned(x)
    assert z.shape == (1, 6)
    assert torch.equal(z[:, :3], last(x)[:, :3])
    assert learned.velocity.weight.shape == (3, 2)  # x -> v(0), of the position's size
    custom = SecondOrderAugmenter(1, 1, initial_velocity=nn.Linear(2, 3))
    assert custom(x).shape == (1, 6)


def test_a_velocity_module_of_another_dtype_takes_the_positions():
    class Float32Velocity(nn.Module):
        def forward(self, x):
            return torch.ones(x.shape[0], 3, dtype=torch.float32)

    augmenter = SecondOrderAugmenter(augment_dims=1, initial_velocity=Float32Velocity())
    state = augmenter(torch.zeros(4, 2, dtype=torch.float64))
    assert state.dtype == torch.float64 and torch.equal(state[:, 3:], torch.ones(4, 3).double())


def test_a_second_order_strip_checks_the_size_and_placement():
    augmenter = SecondOrderAugmenter(augment_dims=1, placement="first")
    x = torch.randn(3, 2)
    state = augmenter(x)
    assert torch.equal(augmenter.strip(state), x)
    with pytest.raises(ValueError) as info:
        augmenter.strip(torch.zeros(3, 5))
    assert str(info.value) == (
        "A second-order state [q, v] has an even size along dimension 1, got shape (3, 5)."
    )


def test_a_second_order_field_passes_args_and_names_what_failed():
    def uses_args(t, z, args):
        return args * z[:, :1]

    field = SecondOrderField(uses_args)
    z = torch.ones(2, 2)
    assert torch.equal(field(torch.tensor(0.0), z, 3.0), torch.tensor([[1.0, 3.0], [1.0, 3.0]]))

    def boom(t, z):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match=r"^boom$"):  # not a shape problem: as it is
        SecondOrderField(boom)(torch.tensor(0.0), z)
    with pytest.raises(TypeError) as info:
        SecondOrderField(3)
    assert str(info.value) == "`vector_field` must be a module or callable, got int."

    def wrong(t, z):
        return z

    with pytest.raises(StateShapeError) as info:
        SecondOrderField(wrong)(torch.tensor(0.0), torch.ones(2, 6))
    assert str(info.value) == (
        "With augmentation='second_order' the vector field sees [x, v] of shape (2, 6) "
        "(6 = 2 * (d + augment_dims) along dimension 1) and returns the acceleration, 3 "
        "along that dimension, e.g. MLPVectorField(6, out_dim=3); function returned (2, 6)"
    )

    def pair(t, z):
        return z, z

    with pytest.raises(StateShapeError, match=r"; function returned tuple$"):
        SecondOrderField(pair)(torch.tensor(0.0), torch.ones(2, 6))

    def mismatched(t, z):
        return z @ torch.ones(5, 1)  # a shape error inside the field

    with pytest.raises(StateShapeError) as info:
        SecondOrderField(mismatched, order=3, source="order=3")(torch.tensor(0.0), torch.ones(2, 6))
    assert str(info.value).startswith(
        "With order=3 the vector field sees all 3 blocks of the state, shape (2, 6) (3 * 2 "
        "along dimension 1), and returns the highest derivative, 2 along that dimension; "
        "function failed: "
    )
