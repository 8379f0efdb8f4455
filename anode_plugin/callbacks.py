"""Lightning callbacks that watch the number of function evaluations (NFE) of ODE blocks."""

from .lightning._nfe_budget import ON_EXCEED, NFEBudget
from .lightning._nfe_callback import NFECallback
from .lightning._nfe_history import NFEHistory, NFEStep

__all__ = ["ON_EXCEED", "NFEBudget", "NFECallback", "NFEHistory", "NFEStep"]
