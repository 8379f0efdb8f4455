"""The solve's defaults, written once.

``AugmentedNeuralODE``, ``AugmentedCNF``, the flat options of :func:`solve_from_options`
and the solve objects read them here.
"""

from __future__ import annotations

__all__ = [
    "ATOL",
    "ATOL_ADJOINT",
    "BACKEND",
    "RTOL",
    "RTOL_ADJOINT",
    "SENSITIVITY",
    "SOLVER",
]

#: The backend's name (torchdyn: faster per training step than torchdiffeq, measured).
BACKEND = "torchdyn"
#: The solver: the paper's (torchdyn's default is 'tsit5').
SOLVER = "dopri5"
#: Tolerances of the forward solve, the paper's.
ATOL = 1e-3
RTOL = 1e-3
#: How gradients are computed.
SENSITIVITY = "autograd"
#: Tolerances of an adjoint's backward solve (torchdyn's defaults).
ATOL_ADJOINT = 1e-4
RTOL_ADJOINT = 1e-4
