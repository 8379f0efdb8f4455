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
    "TORCHDYN_BACKEND",
]

#: The backend that ``backend=None`` chooses: the package's own, the fastest per training
#: step of the four (docs/guides/performance.md). Options only torchdyn has (a solver
#: module or one of its solver names, the interpolated adjoint, an interpolator, dict
#: states) choose ``TORCHDYN_BACKEND`` instead.
BACKEND = "native"
TORCHDYN_BACKEND = "torchdyn"
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
