"""Model weights round-trip through ``state_dict`` and the safe ``weights_only`` loader."""

from __future__ import annotations

import pytest
import torch

from anode_plugin import BACKENDS, AugmentedNeuralODE, ConvVectorField, MLPVectorField


def _vector_model(seed: int, backend: str) -> AugmentedNeuralODE:
    torch.manual_seed(seed)
    return AugmentedNeuralODE(MLPVectorField(2 + 2, 16), augment_dims=2, backend=backend)


def _image_model(seed: int, backend: str) -> AugmentedNeuralODE:
    torch.manual_seed(seed)
    return AugmentedNeuralODE(ConvVectorField(1 + 2, 4), augment_dims=2, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("build", "shape"), [(_vector_model, (5, 2)), (_image_model, (2, 1, 6, 6))]
)
def test_state_dict_round_trip_gives_identical_outputs(tmp_path, backend, build, shape):
    original = build(0, backend)
    x = torch.rand(shape)
    expected = original.features(x)

    path = tmp_path / "model.pt"
    torch.save(original.state_dict(), path)
    state = torch.load(path, weights_only=True)

    restored = build(1, backend)  # other initial weights, then overwritten
    assert not torch.equal(restored.features(x), expected)
    restored.load_state_dict(state)
    assert torch.equal(restored.features(x), expected)


def test_state_dict_holds_only_the_vector_field_weights():
    model = _vector_model(0, "torchdyn")
    field_keys = {f"vf.field.{name}" for name, _ in model.vector_field.named_parameters()}
    assert set(model.state_dict()) == field_keys
