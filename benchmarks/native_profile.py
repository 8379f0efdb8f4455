"""Where a training step of the spheres ANODE goes: the field, the rest of the model,
and the solver, for the native backend (eager and compiled) and torchdyn's.

One step is timed whole (median over ``repeats``, contenders interleaved, one thread).
Its parts are timed alone on the same weights and batch: the field's evaluations (one
forward and one backward of the field per forward evaluation, autograd gradients, at
the step's own forward NFE), the readout, loss and Adam update (on the step's own
features). The solver's share is what is left: stage sums, error norms, step control,
wrappers and the autograd engine's walk over them.

Run:
    python benchmarks/native_profile.py --repeats 200
"""

from __future__ import annotations

import copy
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from jsonargparse import auto_cli
from torch import nn

from anode_plugin import AugmentedNeuralODE, MLPVectorField
from anode_plugin.solve import NativeBackend, Solve, TorchdynBackend

CONTENDERS = {
    "native": NativeBackend,
    "native compiled": lambda: NativeBackend(compile=True),
    "torchdyn": TorchdynBackend,
}


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(repeats: int = 200, out: str | None = None) -> dict:
    """Time the step and its parts; print and return them (ms)."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = torch.randn(64, 2)
    target = (x.norm(dim=1, keepdim=True) < 1).float() * 2 - 1
    field, head = MLPVectorField(3, 32), nn.Linear(3, 1)
    models = {}
    for name, backend in CONTENDERS.items():
        ode = AugmentedNeuralODE(copy.deepcopy(field), augment_dims=1, solve=Solve(backend()))
        h = copy.deepcopy(head)
        models[name] = (ode, h, torch.optim.Adam([*ode.parameters(), *h.parameters()], 1e-3))

    def step(name: str) -> None:
        ode, h, optimizer = models[name]
        optimizer.zero_grad(set_to_none=True)
        F.mse_loss(h(ode.features(x)), target).backward()
        optimizer.step()

    for name in models:  # warm-up (compilation included)
        for _ in range(3):
            step(name)
    # The weights stay as they are from here: the parts are timed at the step's NFE.
    step_times = {name: [] for name in models}
    for _ in range(repeats):
        for name in models:
            ode, h, optimizer = models[name]
            state = copy.deepcopy(optimizer.state_dict())
            params = [p.detach().clone() for p in [*ode.parameters(), *h.parameters()]]
            start = time.perf_counter()
            step(name)
            step_times[name].append(time.perf_counter() - start)
            with torch.no_grad():  # undo the update: every repeat times the same step
                for p, saved in zip([*ode.parameters(), *h.parameters()], params, strict=True):
                    p.copy_(saved)
            optimizer.load_state_dict(state)
    result = {}
    for name, (ode, h, optimizer) in models.items():
        ode.reset_nfe()
        z = ode.features(x)
        nfe = ode.nfe.forward
        raw = ode.vector_field
        t = torch.tensor(0.5)
        state = z.detach().requires_grad_(True)

        def field_evaluation(raw=raw, t=t, state=state) -> None:
            raw(t, state).sum().backward()

        features = z.detach()
        zeros = [torch.zeros_like(p) for p in ode.parameters()]

        def readout(h=h, ode=ode, optimizer=optimizer, features=features, zeros=zeros) -> None:
            optimizer.zero_grad(set_to_none=True)
            F.mse_loss(h(features), target).backward()
            for p, g in zip(ode.parameters(), zeros, strict=True):
                p.grad = g  # Adam updates every parameter, as in the step
            optimizer.step()

        step_ms = 1e3 * statistics.median(step_times[name])
        field_ms = 1e3 * nfe * _median_seconds(field_evaluation, repeats)
        readout_ms = 1e3 * _median_seconds(readout, repeats)
        result[name] = {
            "step_ms": step_ms,
            "nfe_forward": nfe,
            "field_ms": field_ms,
            "readout_loss_adam_ms": readout_ms,
            "solver_ms": step_ms - field_ms - readout_ms,
            "field_share": field_ms / step_ms,
            "solver_share": (step_ms - field_ms - readout_ms) / step_ms,
        }
    print(json.dumps(result, indent=1))
    if out is not None:
        Path(out).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    auto_cli(main)
