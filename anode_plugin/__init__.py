"""Augmented Neural ODEs (Dupont, Doucet & Teh, 2019) for torchdyn, torchdiffeq and Lightning."""

from . import solve as solve  # the solve layer: anode_plugin.solve
from ._augment import Augmenter
from ._cnf import AugmentedCNF, GaussianQ
from ._errors import (
    NFEBudgetExceeded,
    NonFiniteStateError,
    SolverError,
    StateShapeError,
    StepSizeUnderflowError,
)
from ._image_model import conv_ode, count_image_parameters, match_num_filters
from ._model import BACKENDS, SENSITIVITIES, SOLVERS, AugmentedNeuralODE
from ._nfe import NFERecord, StepRecord
from ._resnet import ResNet, match_resnet_hidden_dim
from ._vector_fields import ACTIVATIONS, ConvVectorField, MLPVectorField
from .lightning import ANODEModule, NFEBudget, NFECallback  # after the core: it imports it

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "BACKENDS",
    "SENSITIVITIES",
    "SOLVERS",
    "ANODEModule",
    "AugmentedCNF",
    "AugmentedNeuralODE",
    "Augmenter",
    "ConvVectorField",
    "GaussianQ",
    "MLPVectorField",
    "NFEBudget",
    "NFEBudgetExceeded",
    "NFECallback",
    "NFERecord",
    "NonFiniteStateError",
    "ResNet",
    "SolverError",
    "StateShapeError",
    "StepRecord",
    "StepSizeUnderflowError",
    "__version__",
    "conv_ode",
    "count_image_parameters",
    "match_num_filters",
    "match_resnet_hidden_dim",
]
