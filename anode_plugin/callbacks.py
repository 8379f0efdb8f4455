"""Deprecated: the callbacks are in :mod:`anode_plugin.lightning`, kept here for one release."""

import warnings

from .lightning import (
    ON_EXCEED,
    FailureGuard,
    NFEBudget,
    NFECallback,
    NFEHistory,
    NFEStep,
    ReconstructionCheck,
)

__all__ = [
    "ON_EXCEED",
    "FailureGuard",
    "NFEBudget",
    "NFECallback",
    "NFEHistory",
    "NFEStep",
    "ReconstructionCheck",
]

warnings.warn(
    "`anode_plugin.callbacks` is deprecated and will be removed in the next release; "
    "import the callbacks from `anode_plugin.lightning`.",
    DeprecationWarning,
    stacklevel=2,
)
