"""The backends by name: one entry per backend, and what each takes.

Everything that names the backends (the solve, the adjoints' checks, the model, the CLI,
the experiments, the benchmarks) reads them here. This module imports the backends and
nothing that uses them, so any module may import it.
"""

from __future__ import annotations

from ._backend import Backend
from ._native import NativeBackend
from ._torchdiffeq import TorchdiffeqBackend
from ._torchdyn import TorchdynBackend
from ._torchode import TorchodeBackend

__all__ = ["BACKEND_TYPES", "backends_taking", "solver_names"]

#: Backend name -> class: a new backend is one more entry.
BACKEND_TYPES: dict[str, type[Backend]] = {
    TorchdynBackend.name: TorchdynBackend,
    TorchdiffeqBackend.name: TorchdiffeqBackend,
    TorchodeBackend.name: TorchodeBackend,
    NativeBackend.name: NativeBackend,
}


def backends_taking(capability: str) -> list[str]:
    """Names of the backends with a capability: ``'solver_modules'``, ``'dict_states'``
    or an option name."""
    if capability == "solver_modules":
        return [n for n, b in BACKEND_TYPES.items() if b.SOLVER_MODULES]
    if capability == "dict_states":
        return [n for n, b in BACKEND_TYPES.items() if b.DICT_STATES]
    return [n for n, b in BACKEND_TYPES.items() if capability in b.OPTIONS]


def solver_names() -> list[str]:
    """Every backend's solver names, sorted."""
    return sorted({name for backend in BACKEND_TYPES.values() for name in backend.SOLVERS})
