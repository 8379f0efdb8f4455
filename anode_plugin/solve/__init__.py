"""The solve layer: backends, gradient methods and error norms, as small frozen objects.

A :class:`Solve` pairs a :class:`Backend` (the ODE library, its solver and tolerances)
with a gradient method (:class:`Autograd`, :class:`Adjoint`, :class:`InterpolatedAdjoint`).
``AugmentedNeuralODE`` builds one from its flat keyword arguments, or takes one ready
made as ``solve=``. A third backend is one module with a :class:`Backend` subclass and
one entry in :data:`BACKEND_TYPES`.
"""

from ._adjoint import Adjoint
from ._attributes import SolveAttributes
from ._autograd import Autograd
from ._backend import Backend
from ._interpolated import InterpolatedAdjoint
from ._native import NativeBackend
from ._norms import ErrorNorm
from ._options import resolve_solve, solve_from_options
from ._solve import BACKEND_TYPES, Solve
from ._statistics import PerSampleStats, Solution, SolveStats
from ._torchdiffeq import TorchdiffeqBackend
from ._torchdyn import TorchdynBackend
from ._torchode import TorchodeBackend

__all__ = [
    "BACKEND_TYPES",
    "Adjoint",
    "Autograd",
    "Backend",
    "ErrorNorm",
    "InterpolatedAdjoint",
    "NativeBackend",
    "PerSampleStats",
    "Solution",
    "Solve",
    "SolveAttributes",
    "SolveStats",
    "TorchdiffeqBackend",
    "TorchdynBackend",
    "TorchodeBackend",
    "resolve_solve",
    "solve_from_options",
]
