"""Augmented Neural ODEs (Dupont, Doucet & Teh, 2019) for torchdyn, torchdiffeq and Lightning."""

from ._augment import Augmenter
from ._errors import (
    NFEBudgetExceeded,
    NonFiniteStateError,
    SolverError,
    StateShapeError,
    StepSizeUnderflowError,
)
from ._model import BACKENDS, SENSITIVITIES, SOLVERS, AugmentedNeuralODE
from ._nfe import NFERecord
from ._vector_fields import ACTIVATIONS, ConvVectorField, MLPVectorField

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "BACKENDS",
    "SENSITIVITIES",
    "SOLVERS",
    "AugmentedNeuralODE",
    "Augmenter",
    "ConvVectorField",
    "MLPVectorField",
    "NFEBudgetExceeded",
    "NFERecord",
    "NonFiniteStateError",
    "SolverError",
    "StateShapeError",
    "StepSizeUnderflowError",
    "__version__",
]
