"""The package's backends against each other and against diffrax, one training step.

Two models, each trained from the same weights on the same batch by every contender,
interleaved (one step of each in turn, so that machine load touches all alike), one
thread each: the paper's spheres ANODE (MLP field, batch 64, dopri5 1e-3, autograd)
and the digits image ANODE (the image set-up's conv field, adjoint, batch
``efficiency_batch``). Contenders: the native backend eager and compiled, torchdyn,
torchdiffeq, torchode (per-sample stepping), and diffrax + equinox with the whole step
under ``jax.jit`` when JAX is installed (the ``bench`` extra; skipped with a message
otherwise). Reported: median ms per step, forward and backward NFE, the loss after the
same steps, each time over torchdyn's, and the compiled step's compile time.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from anode_plugin import AugmentedNeuralODE, MLPVectorField
from anode_plugin.experiments import conv_ode
from anode_plugin.experiments.images import IMAGE_SETUPS
from anode_plugin.solve import (
    Adjoint,
    Autograd,
    NativeBackend,
    Solve,
    TorchdiffeqBackend,
    TorchdynBackend,
    TorchodeBackend,
)

from ._data import digits, spheres
from ._profiles import Profile
from ._row import Row

#: contender -> the backend it solves with.
BACKENDS: dict[str, Callable[[], object]] = {
    "native": NativeBackend,
    "native compiled": lambda: NativeBackend(compile=True),
    "torchdyn": TorchdynBackend,
    "torchdiffeq": TorchdiffeqBackend,
    "torchode": TorchodeBackend,
}


def _backends(p: Profile) -> dict[str, Callable[[], object]]:
    return {n: b for n, b in BACKENDS.items() if "compiled" not in n or "compiled" in p.peers}


@dataclass
class Contender:
    """One contender's model, optimiser and measurements."""

    step: Callable[[], tuple[float, int, int, float]]
    seconds: list[float] = field(default_factory=list)
    nfe: list[tuple[int, int]] = field(default_factory=list)
    loss: float = float("nan")
    first_step_s: float = float("nan")


def _torch_contender(
    ode: AugmentedNeuralODE, head: nn.Module, x: Tensor, loss_fn: Callable
) -> Contender:
    optimizer = torch.optim.Adam([*ode.parameters(), *head.parameters()], lr=1e-3)

    def step() -> tuple[float, int, int, float]:
        ode.reset_nfe()
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(head(ode.features(x).flatten(1)))
        loss.backward()
        optimizer.step()
        seconds = time.perf_counter() - start
        return seconds, ode.nfe.forward, ode.nfe.backward, float(loss.detach())

    return Contender(step)


def _spheres_case(p: Profile) -> tuple[dict[str, Contender], dict]:
    x, labels = spheres(512)
    x, target = x[:64], labels[:64].float().mul(2).sub(1).unsqueeze(1)
    torch.manual_seed(0)
    field_ = MLPVectorField(2 + 1, 32)
    head = nn.Linear(3, 1)

    def loss(out: Tensor) -> Tensor:
        return F.mse_loss(out, target)

    contenders = {}
    for name, backend in _backends(p).items():
        solve = Solve(backend(), Autograd())
        ode = AugmentedNeuralODE(copy.deepcopy(field_), augment_dims=1, solve=solve)
        contenders[name] = _torch_contender(ode, copy.deepcopy(head), x, loss)
    setting = {"field": field_, "head": head, "x": x, "target": target}
    return contenders, setting


def _digits_case(p: Profile) -> tuple[dict[str, Contender], dict]:
    setup = IMAGE_SETUPS["digits"]
    images, labels = digits()
    x, y = images[: p.efficiency_batch], labels[: p.efficiency_batch]
    c, h, w = setup.datamodule.image_shape
    aug, filters = setup.p("anode"), setup.filters("anode")
    torch.manual_seed(0)
    reference = conv_ode(c, filters, augment_dims=aug, backend="torchdyn")
    head = nn.Linear((c + aug) * h * w, 10)

    def loss(out: Tensor) -> Tensor:
        return F.cross_entropy(out, y)

    contenders = {}
    for name, backend in _backends(p).items():
        solve = Solve(backend(), Adjoint(atol=1e-3, rtol=1e-3))
        ode = AugmentedNeuralODE(
            copy.deepcopy(reference.vector_field), augment_dims=aug, solve=solve
        )
        contenders[name] = _torch_contender(ode, copy.deepcopy(head), x, loss)
    setting = {"field": reference.vector_field, "head": head, "x": x, "y": y, "p": aug}
    return contenders, setting


def _run(contenders: dict[str, Contender], repeats: int) -> None:
    for contender in contenders.values():  # warm-up: compilation, caches, allocator
        start = time.perf_counter()
        contender.step()
        contender.first_step_s = time.perf_counter() - start
        contender.step()
    names = list(contenders)
    for i in range(repeats):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            seconds, forward, backward, loss = contenders[name].step()
            contenders[name].seconds.append(seconds)
            contenders[name].nfe.append((forward, backward))
            contenders[name].loss = loss


def _rows(case: str, contenders: dict[str, Contender], steps: int) -> list[Row]:
    base = statistics.median(contenders["torchdyn"].seconds)
    rows = []
    for name, c in contenders.items():
        median = statistics.median(c.seconds)
        goal, met = "", None
        if case.startswith("spheres") and name in ("native", "native compiled"):
            goal = "<= 0.5" if name == "native" else "<= 0.35"
            met = median / base <= float(goal[3:])
        elif name == "native":
            goal, met = "<= 1.02", median / base <= 1.02
        rows.append(
            Row(
                "peers",
                f"{case}: {name}",
                "step time / torchdyn's",
                median / base,
                goal,
                met,
                details={
                    "ms_per_step": 1e3 * median,
                    "nfe_forward": statistics.median(n[0] for n in c.nfe),
                    "nfe_backward": statistics.median(n[1] for n in c.nfe),
                    "loss_after_steps": c.loss,
                    "steps": steps,
                    "first_step_s": c.first_step_s,
                },
            )
        )
    return rows


def bench_peers(p: Profile) -> list[Row]:
    torch.set_num_threads(1)
    rows = []
    for case, build in (("spheres ANODE", _spheres_case), ("digits conv ANODE", _digits_case)):
        contenders, setting = build(p)
        if "diffrax" in p.peers:
            from ._jax_peers import jax_contender  # JAX only when the section runs

            jax_step = jax_contender(case, setting)
            if jax_step is not None:
                contenders["diffrax (jax.jit)"] = Contender(jax_step)
        _run(contenders, p.repeats)
        rows += _rows(case, contenders, p.repeats + 2)
    return rows
