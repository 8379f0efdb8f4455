"""Augmented Neural ODEs (Dupont, Doucet & Teh, 2019) for torchdyn, torchdiffeq and Lightning.

The root exports the core library: augmentation, the model, vector fields, NFE
records and errors; :mod:`anode_plugin.solve` is the solve layer. The other layers
are subpackages: :mod:`anode_plugin.lightning` (training module, callbacks, ``anode``
CLI), :mod:`anode_plugin.datasets`, :mod:`anode_plugin.testing` (property checks and
hypothesis strategies) and :mod:`anode_plugin.experiments` (the paper's reproduction).
"""

from . import solve as solve  # the solve layer: anode_plugin.solve
from ._augment import Augmenter
from ._augmentations import AUGMENTATIONS
from ._cnf import CNF_AUGMENTATIONS, COUPLINGS, AugmentedCNF, ExactAugmentation, GaussianQ
from ._errors import (
    AugmentIndexError,
    AugmentTypeError,
    AugmentValueError,
    NFEBudgetExceeded,
    NonFiniteStateError,
    SolverError,
    StateShapeError,
    StepSizeUnderflowError,
)
from ._input_layer import InputLayer, InputLayerAugmenter
from ._model import BACKENDS, SENSITIVITIES, SOLVERS, AugmentedNeuralODE
from ._nfe import ModelStats, NFERecord, StepRecord
from ._second_order import SecondOrderAugmenter, SecondOrderField
from ._vector_fields import ACTIVATIONS, ConvVectorField, MLPVectorField

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "AUGMENTATIONS",
    "BACKENDS",
    "CNF_AUGMENTATIONS",
    "COUPLINGS",
    "SENSITIVITIES",
    "SOLVERS",
    "AugmentIndexError",
    "AugmentTypeError",
    "AugmentValueError",
    "AugmentedCNF",
    "AugmentedNeuralODE",
    "Augmenter",
    "ConvVectorField",
    "ExactAugmentation",
    "GaussianQ",
    "InputLayer",
    "InputLayerAugmenter",
    "MLPVectorField",
    "ModelStats",
    "NFEBudgetExceeded",
    "NFERecord",
    "NonFiniteStateError",
    "SecondOrderAugmenter",
    "SecondOrderField",
    "SolverError",
    "StateShapeError",
    "StepRecord",
    "StepSizeUnderflowError",
    "__version__",
]

# Names the root exported before the layers were split. There has been no release, so
# they are not kept as aliases: an alias that returned the object would be found by
# jsonargparse's `get_import_path` (it probes every parent package for the shortest path)
# and written into saved configs. An AttributeError says where each name went instead;
# `getattr(anode_plugin, name, None)` (jsonargparse's probe) sees no such name.
_MOVED = {
    "ANODEModule": "anode_plugin.lightning",
    "NFEBudget": "anode_plugin.lightning",
    "NFECallback": "anode_plugin.lightning",
    "ResNet": "anode_plugin.experiments",
    "conv_ode": "anode_plugin.experiments",
    "count_image_parameters": "anode_plugin.experiments",
    "match_num_filters": "anode_plugin.experiments",
    "match_resnet_hidden_dim": "anode_plugin.experiments",
}


def __getattr__(name: str) -> object:
    if name in _MOVED:
        raise AttributeError(
            f"module 'anode_plugin' has no attribute {name!r}: it moved to "
            f"`{_MOVED[name]}`; import it from there (`from {_MOVED[name]} import {name}`)."
        )
    raise AttributeError(f"module 'anode_plugin' has no attribute {name!r}")
