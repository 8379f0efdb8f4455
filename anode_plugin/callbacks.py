"""Lightning callbacks for ODE training: NFE, NFE budgets, failure guards, reconstruction."""

from .lightning._failure_guard import FailureGuard
from .lightning._nfe_budget import ON_EXCEED, NFEBudget
from .lightning._nfe_callback import NFECallback
from .lightning._nfe_history import NFEHistory, NFEStep
from .lightning._reconstruction_check import ReconstructionCheck

__all__ = [
    "ON_EXCEED",
    "FailureGuard",
    "NFEBudget",
    "NFECallback",
    "NFEHistory",
    "NFEStep",
    "ReconstructionCheck",
]
