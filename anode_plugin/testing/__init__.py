"""Property checks and hypothesis strategies for users' vector fields.

The reconstruction functions (:func:`reconstruction_error`,
:func:`loosest_passing_tolerance`) return data: how far integrating to the final time
and back lands from the inputs, and at which solver tolerance it stops mattering.

The checks (``assert_*``) need only torch. The strategies need ``hypothesis``
(``pip install "anode-plugin[test]"``) and are imported on first use. The pytest fixtures
(``anode_check_flow``, ``anode_inputs``, ``anode_seed``) come from the plugin
``anode_plugin_pytest``, registered through the ``pytest11`` entry point.

Example:
    >>> import torch
    >>> from anode_plugin import AugmentedNeuralODE, MLPVectorField
    >>> from anode_plugin.testing import assert_flow_properties
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> model = AugmentedNeuralODE(MLPVectorField(3), augment_dims=1, atol=1e-8, rtol=1e-8).double()
    >>> assert_flow_properties(model, torch.randn(8, 2, dtype=torch.float64))
"""

from __future__ import annotations

import importlib
from typing import Any

from .._reconstruction_tolerances import TOLERANCE_LADDER
from ._checks import assert_flow_properties
from ._invertibility import assert_invertible
from ._nfe_check import assert_nfe_consistent
from ._non_crossing import assert_non_crossing
from ._reconstruction import (
    ReconstructionReport,
    assert_reconstructs,
    loosest_passing_tolerance,
    reconstruction_error,
)
from ._roundtrip import assert_augmentation_roundtrip
from ._tolerances import solver_tolerances

#: Each strategy and the module it lives in.
_STRATEGIES = {
    "augmented_neural_odes": "_model_strategies",
    "conv_vector_fields": "_field_strategies",
    "images": "_input_strategies",
    "mlp_vector_fields": "_field_strategies",
    "model_inputs": "_input_strategies",
    "vectors": "_input_strategies",
}

__all__ = [
    "TOLERANCE_LADDER",
    "ReconstructionReport",
    "assert_augmentation_roundtrip",
    "assert_flow_properties",
    "assert_invertible",
    "assert_nfe_consistent",
    "assert_non_crossing",
    "assert_reconstructs",
    "loosest_passing_tolerance",
    "reconstruction_error",
    "solver_tolerances",
    *_STRATEGIES,
]


def __getattr__(name: str) -> Any:
    # Strategies import hypothesis, a test-only dependency: load them when first asked for.
    if name in _STRATEGIES:
        try:
            module = importlib.import_module(f".{_STRATEGIES[name]}", __name__)
        except ModuleNotFoundError as error:
            if error.name != "hypothesis":
                raise
            raise ImportError(
                f"anode_plugin.testing.{name} needs hypothesis; install it with "
                '`pip install "anode-plugin[test]"`.'
            ) from error
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
