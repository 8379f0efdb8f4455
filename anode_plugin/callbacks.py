"""Lightning callbacks for ODE training: NFE tracking, NFE budgets and failure guards."""

from .lightning._failure_guard import FailureGuard
from .lightning._nfe_budget import ON_EXCEED, NFEBudget
from .lightning._nfe_callback import NFECallback
from .lightning._nfe_history import NFEHistory, NFEStep

__all__ = ["ON_EXCEED", "FailureGuard", "NFEBudget", "NFECallback", "NFEHistory", "NFEStep"]
