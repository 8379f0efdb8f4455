"""Shared parametrisations and small fields for the core tests."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from anode_plugin import BACKENDS, SENSITIVITIES

# Every (backend, sensitivity) pair the model accepts.
BACKEND_SENSITIVITIES = [(b, s) for b in BACKENDS for s in SENSITIVITIES[b]]


def solve_error_bound(tol: float, dtype: torch.dtype, *, scale: float = 1.0) -> float:
    """A bound on the global error of an adaptive dopri5 solve over a unit time interval.

    Tolerances of tests follow from the solve's, never from one CPU's rounding: kernels
    for AVX2 and AVX512 round differently, and a different rounding can move one step
    of an adaptive solve. Step-size control keeps each step's local error under
    ``tol * scale`` (``atol = rtol = tol``, states of size ``scale``); the global error
    of an order-4(5) pair then grows like ``(tol * scale) ** (4 / 5)`` (Hairer, Norsett
    & Wanner, I, II.4). The constant 100 is ten times the largest ratio measured on the
    test fields (11, for MLPs with tanh layers at tol 1e-10 to 1e-6); rounding adds a
    thousand units in the last place.

    Args:
        tol: the solve's ``atol`` and ``rtol``.
        dtype: the state's dtype.
        scale: the size of the state's entries.

    Returns:
        The largest error the solve may make; two solves may differ by twice this.
    """
    return 100 * (tol * scale) ** 0.8 + 1e3 * torch.finfo(dtype).eps * scale


def in_backward_pass() -> bool:
    """Whether the caller runs inside the autograd engine's backward pass.

    An oracle independent of the package, which tells forward from backward by where
    the model's own solve runs: the engine has a current graph task only while
    ``backward()`` runs (a private torch function, acceptable in a test).
    """
    return torch._C._current_graph_task_id() != -1


class CountingField(nn.Module):
    """``f(t, x) = net(x)`` with a counter incremented on every call: the classic count."""

    def __init__(self, dim: int, hidden: int = 16, *, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, dim))
        self.calls = 0

    def forward(self, t: Tensor, x: Tensor) -> Tensor:
        self.calls += 1
        return self.net(x)


class LinearField(nn.Module):
    """``dx/dt = a x``, solved exactly by ``x(t) = x(0) exp(a t)``."""

    def __init__(self, a: float) -> None:
        super().__init__()
        self.a = a

    def forward(self, x: Tensor) -> Tensor:
        return self.a * x


#: A Trainer that prints, logs and saves nothing of its own (tests give what they check).
QUIET_TRAINER = {
    "max_epochs": 1,
    "logger": False,
    "enable_checkpointing": False,
    "enable_progress_bar": False,
    "enable_model_summary": False,
}


def quiet_trainer(tmp_path, **options):
    """A Lightning ``Trainer`` writing under ``tmp_path`` with :data:`QUIET_TRAINER`'s
    options, then ``options`` (which win)."""
    import lightning.pytorch as pl

    return pl.Trainer(**{**QUIET_TRAINER, "default_root_dir": tmp_path, **options})


def spheres_data(**kwargs) -> Any:
    """A small concentric-spheres DataModule (class labels), ``kwargs`` winning."""
    from anode_plugin.datasets import ConcentricSpheresDataModule

    options = dict(num_inner=32, num_outer=32, num_val=32, num_test=32, batch_size=16)
    options.update(kwargs)
    return ConcentricSpheresDataModule(labels="classes", **options)


def spheres_anode(sensitivity: str = "autograd", **kwargs) -> Any:
    """A small ANODEModule (an MLP field, p=1) for the spheres, ``kwargs`` to the module."""
    from anode_plugin import AugmentedNeuralODE, MLPVectorField
    from anode_plugin.lightning import ANODEModule

    ode = AugmentedNeuralODE(MLPVectorField(3, 8), augment_dims=1, sensitivity=sensitivity)
    return ANODEModule(ode, num_outputs=2, feature_dim=3, **kwargs)


def callback_trainer(tmp_path, callbacks, **kwargs) -> Any:
    """A quiet trainer with ``callbacks`` and no sanity-check steps."""
    return quiet_trainer(tmp_path, callbacks=callbacks, **{"num_sanity_val_steps": 0, **kwargs})
