"""The paper's properties of ODE flows, checked on random fields with ``anode_plugin.testing``.

A Neural ODE's feature map is a homeomorphism (Proposition 3): it is invertible, and in 1-D
it preserves order, since trajectories cannot cross (Proposition 1). Augmentation does not
change that; it only gives the flow room to move.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from anode_plugin import BACKENDS, SENSITIVITIES, AugmentedNeuralODE
from anode_plugin.testing import (
    assert_augmentation_roundtrip,
    assert_invertible,
    assert_nfe_consistent,
    assert_non_crossing,
    augmented_neural_odes,
    mlp_vector_fields,
    model_inputs,
    vectors,
)

pytestmark = pytest.mark.numerics

PROPERTY = settings(max_examples=12, deadline=None)


@PROPERTY
@given(
    st.data(),
    augmented_neural_odes(
        max_input_dim=3,
        max_augment_dims=2,
        sensitivities=["autograd"],
        atol=1e-10,
        rtol=1e-10,
    ),
)
def test_flow_is_invertible(data, model):
    """inverse(features(x)) is x within 1e-6, for random MLP fields and inputs, in float64."""
    x = data.draw(model_inputs(model, max_batch=8), label="x")
    assert_invertible(model, x, atol=1e-6)


@PROPERTY
@given(
    field=mlp_vector_fields(min_dim=1, max_dim=1, max_hidden=12, weight_scale=1.5),
    x=vectors(min_batch=2, max_batch=12, min_dim=1, max_dim=1, min_separation=1e-3),
    backend=st.sampled_from(BACKENDS),
)
def test_1d_flow_preserves_order(field, x, backend):
    """With augment_dims=0 and d=1, x_i < x_j implies phi(x_i) < phi(x_j), at every time.

    The fields are drawn with every activation, ReLU included: non-smooth but Lipschitz.
    """
    model = AugmentedNeuralODE(field, augment_dims=0, backend=backend, atol=1e-7, rtol=1e-7)
    times = torch.linspace(0.0, 1.0, 5, dtype=torch.float64)
    assert_non_crossing(model, x, t_span=times)
    # The same, as the paper states it: sorted inputs give sorted, distinct features.
    order = x[:, 0].argsort()
    features = model.features(x)[order, 0]
    assert bool((features.diff() > 0).all()), (x[order, 0], features)


@PROPERTY
@given(
    st.data(),
    augmented_neural_odes(min_input_dim=2, max_input_dim=3, max_augment_dims=2),
)
def test_distinct_inputs_keep_distinct_features(data, model):
    x = data.draw(model_inputs(model, min_batch=2, max_batch=10, min_separation=1e-2), label="x")
    assert_non_crossing(model, x)


@pytest.mark.parametrize(
    ("backend", "sensitivity"), [(b, s) for b in BACKENDS for s in SENSITIVITIES[b]]
)
@settings(max_examples=3, deadline=None)
@given(st.data())
def test_nfe_consistent(backend, sensitivity, data):
    model = data.draw(
        augmented_neural_odes(
            max_input_dim=2,
            max_augment_dims=2,
            backends=[backend],
            sensitivities=[sensitivity],
            atol=1e-5,
            rtol=1e-5,
        ),
        label="model",
    )
    x = data.draw(model_inputs(model, max_batch=6), label="x")
    assert_nfe_consistent(model, x)


@settings(max_examples=10, deadline=None)
@given(
    st.data(),
    augmented_neural_odes(max_input_dim=3, max_augment_dims=3, backends=["torchdyn"]),
)
def test_model_augmentation_round_trips(data, model):
    x = data.draw(model_inputs(model, max_batch=4), label="x")
    assert_augmentation_roundtrip(model.augmenter, x)
