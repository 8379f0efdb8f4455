"""Lightning training for Augmented Neural ODEs: the module, callbacks and the CLI."""

from ._atomic_logger import AtomicCSVLogger
from ._checkpoint_io import AtomicCheckpointIO, CheckpointError
from ._density_module import DensityModule
from ._failure_guard import FailureGuard
from ._module import LOSSES, TASKS, ANODEModule
from ._nfe_budget import ON_EXCEED, NFEBudget
from ._nfe_callback import NFECallback
from ._nfe_history import NFEHistory, NFEStep
from ._ode_blocks import find_ode_blocks
from ._reconstruction_check import ReconstructionCheck

__all__ = [
    "LOSSES",
    "ON_EXCEED",
    "TASKS",
    "ANODEModule",
    "AtomicCSVLogger",
    "AtomicCheckpointIO",
    "CheckpointError",
    "DensityModule",
    "FailureGuard",
    "NFEBudget",
    "NFECallback",
    "NFEHistory",
    "NFEStep",
    "ReconstructionCheck",
    "find_ode_blocks",
]
