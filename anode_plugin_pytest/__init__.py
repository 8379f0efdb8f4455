"""pytest plugin of anode-plugin: fixtures that check a user's vector field in three lines.

Registered through the ``pytest11`` entry point, so installing the package is enough. It
lives outside the ``anode_plugin`` package on purpose: pytest imports every installed
plugin at start-up, and importing ``anode_plugin`` loads torch, torchdyn and Lightning
(seconds). This module imports only pytest; the fixtures import the package when a test
asks for them. Disable the plugin with ``pytest -p no:anode_plugin``.

Example:
    .. code-block:: python

        def test_my_field(anode_check_flow):
            model = AugmentedNeuralODE(MyField(3), augment_dims=1, atol=1e-8, rtol=1e-8)
            anode_check_flow(model.double(), input_shape=(2,))
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import Any

import pytest

__all__ = ["anode_check_flow", "anode_inputs", "anode_seed"]


@pytest.fixture
def anode_seed(request: pytest.FixtureRequest) -> int:
    """A seed fixed per test (from its node id): reruns draw the same inputs."""
    return zlib.crc32(request.node.nodeid.encode())


def _input_shape(model: Any) -> tuple[int, ...]:
    from anode_plugin import ConvVectorField, MLPVectorField

    field = model.vector_field
    if isinstance(field, MLPVectorField):
        return (field.dim - model.augment_dims,)
    if isinstance(field, ConvVectorField):
        return (field.channels - model.augment_dims, 4, 4)
    raise ValueError(
        f"Cannot tell the input shape of a model whose vector field is a "
        f"{type(field).__name__}; pass `input_shape=(d,)` or `(c, h, w)`, or inputs `x`."
    )


@pytest.fixture
def anode_inputs(anode_seed: int) -> Callable[..., Any]:
    """Factory of random inputs, seeded per test.

    ``anode_inputs(model_or_shape, *, batch=16, low=-2.0, high=2.0, dtype=None)`` returns a
    tensor ``[batch, *shape]`` uniform in ``[low, high)``: ``shape`` is a tuple, or read from
    a model with an ``MLPVectorField``/``ConvVectorField``; ``dtype`` defaults to the model's
    (float64 for a shape).
    """
    import torch

    def make(
        model_or_shape: Any,
        *,
        batch: int = 16,
        low: float = -2.0,
        high: float = 2.0,
        dtype: Any = None,
    ) -> torch.Tensor:
        if isinstance(model_or_shape, Sequence):
            shape = tuple(int(s) for s in model_or_shape)
            dtype = dtype or torch.float64
        else:
            shape = _input_shape(model_or_shape)
            dtype = dtype or next(model_or_shape.parameters()).dtype
        generator = torch.Generator().manual_seed(anode_seed)
        x = torch.rand((batch, *shape), generator=generator, dtype=torch.float64)
        return (low + (high - low) * x).to(dtype)

    return make


@pytest.fixture
def anode_check_flow(anode_inputs: Callable[..., Any]) -> Callable[..., None]:
    """Run every property check of :mod:`anode_plugin.testing` on a model.

    ``anode_check_flow(model, x=None, *, input_shape=None, batch=16, atol=1e-5,
    invertible=True, non_crossing=True, roundtrip=True, nfe=True)``: with no ``x``,
    inputs are drawn by ``anode_inputs`` (shape ``input_shape`` or read from the model).
    Raises ``AssertionError`` naming the failed property and the offending inputs.
    """
    from anode_plugin.testing import assert_flow_properties

    def check(
        model: Any,
        x: Any = None,
        *,
        input_shape: Sequence[int] | None = None,
        batch: int = 16,
        atol: float = 1e-5,
        **which: bool,
    ) -> None:
        __tracebackhide__ = True
        if x is None:
            if input_shape is not None:
                dtype = next(model.parameters()).dtype
                x = anode_inputs(tuple(input_shape), batch=batch, dtype=dtype)
            else:
                x = anode_inputs(model, batch=batch)
        assert_flow_properties(model, x, atol=atol, **which)

    return check
