"""The benchmark suite: every speed and NFE claim of anode-plugin, measured side by side.

Figures are medians over repeats and ratios between configurations timed alternately,
so that machine load affects both sides alike. One thread is used throughout.

Run:
    python benchmarks/run.py --profile quick        # under ten minutes on 2 cores
    python benchmarks/run.py --profile full
    python benchmarks/run.py --profile quick --sections '[seminorm, compile]'

Writes ``<output_dir>/latest.json`` and ``<output_dir>/latest.md``.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from jsonargparse import auto_cli
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import overhead  # the overhead benchmark, reused as is
from reference_fields import ConcatConvVectorField

from anode_plugin import AugmentedNeuralODE, ConvVectorField, MLPVectorField
from anode_plugin.datasets import concentric_spheres

SECTIONS = (
    "overhead",
    "nfe_tracking",
    "efficiency",
    "conv_field",
    "backends",
    "anode_vs_node",
    "memory",
    "seminorm",
    "regularisers",
    "compile",
)


@dataclass(frozen=True)
class Profile:
    """Sizes and repeats of one run of the suite."""

    repeats: int
    overhead_cases: tuple[tuple[str, str], ...]
    tracking_steps: int
    efficiency_batch: int
    mnist_batch: int
    train_steps: int
    memory_steps: tuple[int, ...]
    compile_repeats: int


PROFILES = {
    "tiny": Profile(2, (("mlp", "autograd"),), 4, 8, 2, 4, (2, 4), 1),
    "quick": Profile(
        7,
        (("mlp", "autograd"), ("mlp", "adjoint"), ("conv", "autograd")),
        30,
        64,
        16,
        120,
        (8, 16, 32),
        5,
    ),
    "full": Profile(
        25,
        (("mlp", "autograd"), ("mlp", "adjoint"), ("conv", "autograd"), ("conv", "adjoint")),
        100,
        128,
        64,
        400,
        (8, 16, 32, 64),
        15,
    ),
}


@dataclass
class Row:
    """One line of the results table."""

    section: str
    case: str
    figure: str
    value: float
    goal: str = ""
    met: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------- helpers
def _median_ratio(a: Callable[[], float], b: Callable[[], float], repeats: int):
    """Time ``a`` and ``b`` alternately; returns (median a/b, median a, median b)."""
    ratios, ta, tb = [], [], []
    for i in range(repeats):
        if i % 2:
            x, y = a(), b()
        else:
            y, x = b(), a()
        ratios.append(x / y)
        ta.append(x)
        tb.append(y)
    return statistics.median(ratios), statistics.median(ta), statistics.median(tb)


def _digits() -> tuple[Tensor, Tensor]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.as_tensor(digits.images, dtype=torch.float32).div(16).unsqueeze(1)
    return x, torch.as_tensor(digits.target)


def _spheres(n: int = 512) -> tuple[Tensor, Tensor]:
    x, y = concentric_spheres(dim=2, num_inner=n // 4, num_outer=n - n // 4, seed=0)
    return x, (y[:, 0] > 0).long()


class _Classifier(nn.Module):
    """ODE block, then a linear layer on the flattened final state."""

    def __init__(self, ode: AugmentedNeuralODE, feature_dim: int, classes: int) -> None:
        super().__init__()
        self.ode, self.head = ode, nn.Linear(feature_dim, classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.ode.features(x).flatten(1))


def _train_step(model: nn.Module, optimizer, x: Tensor, loss_fn: Callable[[Tensor], Tensor]):
    start = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model(x))
    loss.backward()
    optimizer.step()
    return time.perf_counter() - start, float(loss.detach())


# ---------------------------------------------------------------------- sections
def bench_overhead(p: Profile) -> list[Row]:
    rows = []
    for case, sensitivity in p.overhead_cases:
        r = overhead.measure(case, sensitivity, p.repeats)
        rows.append(
            Row(
                "overhead",
                f"{case}, {sensitivity}",
                "step time ours / hand-built torchdyn",
                r.median_ratio,
                "<= 1.03, same NFE",
                r.median_ratio <= 1.03 and r.nfe_identical,
                asdict(r),
            )
        )
    return rows


def bench_nfe_tracking(p: Profile) -> list[Row]:
    import lightning.pytorch as pl
    from torch.utils.data import DataLoader, TensorDataset

    from anode_plugin import ANODEModule, NFECallback

    x, y = _spheres(1024)
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=False)
    hook_time = [0.0]

    def timed(callback: NFECallback) -> NFECallback:
        for name in dir(type(callback)):
            if name.startswith("on_") and callable(getattr(callback, name)):
                hook = getattr(callback, name)

                def wrapper(*args, _hook=hook, **kwargs):
                    start = time.perf_counter()
                    try:
                        return _hook(*args, **kwargs)
                    finally:
                        hook_time[0] += time.perf_counter() - start

                setattr(callback, name, wrapper)
        return callback

    def fit(with_callback: bool) -> float:
        torch.manual_seed(0)
        module = ANODEModule(
            AugmentedNeuralODE(MLPVectorField(3, 32), 1), num_outputs=2, feature_dim=3
        )
        callbacks = [timed(NFECallback(prog_bar=False))] if with_callback else []
        trainer = pl.Trainer(
            max_steps=p.tracking_steps,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            callbacks=callbacks,
            limit_val_batches=0,
        )
        start = time.perf_counter()
        trainer.fit(module, loader)
        return time.perf_counter() - start

    fit(True)
    fit(False)  # warm-up
    hook_time[0] = 0.0
    ratio, with_cb, without = _median_ratio(lambda: fit(True), lambda: fit(False), p.repeats)
    runs = p.repeats
    share = hook_time[0] / (with_cb * runs)
    return [
        Row(
            "nfe_tracking",
            f"spheres MLP, {p.tracking_steps} steps",
            "time inside NFECallback / fit time",
            share,
            "<= 0.01",
            share <= 0.01,
            {"fit_ratio_with_over_without": ratio, "median_fit_s": with_cb},
        ),
        Row(
            "nfe_tracking",
            f"spheres MLP, {p.tracking_steps} steps",
            "fit time with / without NFECallback",
            ratio,
            "<= 1.01 (noisy end to end)",
            ratio <= 1.01,
            {"median_with_s": with_cb, "median_without_s": without},
        ),
    ]


def _field_time(field: nn.Module, z: Tensor, repeats: int) -> float:
    """Median time of one evaluation and its backward (a vector-Jacobian product)."""
    z = z.detach().requires_grad_(True)
    t = torch.tensor(0.5)
    times = []
    for _ in range(max(repeats, 5) * 4):
        start = time.perf_counter()
        out = field(t, z)
        torch.autograd.grad(out, [z, *field.parameters()], torch.ones_like(out))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_efficiency(p: Profile) -> list[Row]:
    rows = []
    b, bm = p.efficiency_batch, p.mnist_batch
    cases = [
        ("MLP, digits-sized", MLPVectorField(64 + 5, 64), torch.rand(b, 64), 5, 0.0),
        ("MLP, MNIST-sized", MLPVectorField(784 + 5, 64), torch.rand(bm, 784), 5, 0.0),
        ("conv, digits-sized", ConvVectorField(1 + 5, 32), torch.rand(b, 1, 8, 8), 5, 0.85),
        ("conv, MNIST-sized", ConvVectorField(1 + 5, 32), torch.rand(bm, 1, 28, 28), 5, 0.85),
    ]
    for name, vf, x, aug, goal in cases:
        torch.manual_seed(0)
        model = AugmentedNeuralODE(vf, aug, return_t_eval=False)
        optimizer = torch.optim.Adam(model.parameters(), 1e-3)
        _train_step(model, optimizer, x, lambda s: s[-1].pow(2).mean())
        steps, nfes = [], []
        for _ in range(p.repeats):
            model.reset_nfe()
            steps.append(_train_step(model, optimizer, x, lambda s: s[-1].pow(2).mean())[0])
            nfes.append(model.nfe.forward)
        z = model.augmenter(x)
        one = _field_time(vf, z, p.repeats)
        step = statistics.median(steps)
        nfe = statistics.median(nfes)
        share = nfe * one / step
        rows.append(
            Row(
                "efficiency",
                name,
                "share of a training step inside the field",
                share,
                f">= {goal}" if goal else "",
                share >= goal if goal else None,
                {"nfe": nfe, "eval_ms": 1e3 * one, "step_ms": 1e3 * step, "batch": x.shape[0]},
            )
        )
    return rows


def bench_conv_field(p: Profile) -> list[Row]:
    """The paper's conv field against the same field concatenating a time channel."""
    torch.manual_seed(0)
    field = ConvVectorField(6, 64)
    reference = ConcatConvVectorField(6, 64)
    reference.load_state_dict(field.state_dict())
    x = torch.rand(32, 6, 28, 28)
    t = torch.tensor(0.5)
    with torch.no_grad():
        gap = float((field(t, x) - reference(t, x)).abs().max())

    cpu: dict[str, list[float]] = {"ours": [], "theirs": []}

    def evaluation(f: nn.Module, name: str) -> Callable[[], float]:
        z = x.clone().requires_grad_(True)

        def once() -> float:
            start, start_cpu = time.perf_counter(), time.thread_time()
            out = f(t, z)
            torch.autograd.grad(out, [z, *f.parameters()], torch.ones_like(out))
            cpu[name].append(time.thread_time() - start_cpu)
            return time.perf_counter() - start

        return once

    ours, theirs = evaluation(field, "ours"), evaluation(reference, "theirs")
    for _ in range(5):  # warm-up, also of the allocator: a solve evaluates the field often
        ours(), theirs()
    cpu["ours"].clear(), cpu["theirs"].clear()
    ratio, a, b = _median_ratio(ours, theirs, max(p.repeats, 5) * 4)
    # CPU time of this thread: unlike wall time, not stretched by other processes.
    cpu_ratio = statistics.median(o / r for o, r in zip(cpu["ours"], cpu["theirs"], strict=True))
    return [
        Row(
            "conv_field",
            "batch 32, 6x28x28, 64 filters",
            "evaluation + backward time ours / concatenating time channel",
            ratio,
            "<= 0.75, outputs within 1e-6",
            ratio <= 0.75 and gap <= 1e-6,
            {
                "ours_ms": 1e3 * a,
                "concatenating_ms": 1e3 * b,
                "cpu_time_ratio": cpu_ratio,
                "max_output_difference": gap,
            },
        )
    ]


def bench_backends(p: Profile) -> list[Row]:
    rows = []
    xs, _ = _spheres(256)
    cases = [
        ("MLP, spheres", MLPVectorField(2 + 1, 32), xs, 1),
        ("conv, digits", ConvVectorField(1 + 5, 32), _digits()[0][: p.efficiency_batch], 5),
    ]
    for name, vf, x, aug in cases:
        models, optimizers = {}, {}
        counts: dict[str, list[int]] = {"torchdyn": [], "torchdiffeq": []}
        for backend in ("torchdyn", "torchdiffeq"):
            models[backend] = AugmentedNeuralODE(copy.deepcopy(vf), aug, backend=backend)
            optimizers[backend] = torch.optim.Adam(models[backend].parameters(), 1e-3)

        def step(backend: str, models=models, optimizers=optimizers, x=x, counts=counts) -> float:
            model = models[backend]
            model.reset_nfe()
            seconds = _train_step(
                model.features, optimizers[backend], x, lambda z: z.pow(2).mean()
            )[0]
            counts[backend].append(model.nfe.forward)
            return seconds

        step("torchdyn"), step("torchdiffeq")
        ratio, a, b = _median_ratio(
            lambda: step("torchdiffeq"), lambda: step("torchdyn"), p.repeats
        )
        rows.append(
            Row(
                "backends",
                name,
                "step time torchdiffeq / torchdyn",
                ratio,
                details={
                    "nfe_torchdyn": statistics.median(counts["torchdyn"]),
                    "nfe_torchdiffeq": statistics.median(counts["torchdiffeq"]),
                    "torchdyn_ms": 1e3 * b,
                    "torchdiffeq_ms": 1e3 * a,
                },
            )
        )
    return rows


def _train_to_target(
    model: nn.Module, x: Tensor, y: Tensor, target: float, steps: int, batch: int, lr: float
) -> dict[str, Any]:
    optimizer = torch.optim.Adam(model.parameters(), lr)
    generator = torch.Generator().manual_seed(0)
    elapsed, reached, losses, nfes = 0.0, None, [], []
    ode = model.ode
    for step in range(steps):
        idx = torch.randint(0, len(x), (batch,), generator=generator)
        ode.reset_nfe()
        seconds, loss = _train_step(
            model, optimizer, x[idx], lambda out, idx=idx: F.cross_entropy(out, y[idx])
        )
        elapsed += seconds
        losses.append(loss)
        nfes.append(ode.nfe.forward)
        window = losses[-10:]
        if reached is None and len(window) == 10 and statistics.mean(window) <= target:
            reached = {"step": step + 1, "seconds": elapsed}
            break
    return {
        "reached": reached,
        "final_loss": statistics.mean(losses[-10:]),
        "forward_nfe": statistics.mean(nfes),
        "steps": len(losses),
        "seconds": elapsed,
    }


def _anode_cases(p: Profile):
    xs, ys = _spheres(1024)
    xd, yd = _digits()
    # (name, data, target loss, batch, lr, {label: (field, augment_dims, feature_dim)})
    return [
        (
            "spheres 2-D",
            (xs, ys),
            0.3,
            128,
            1e-2,
            {
                "NODE": (lambda: MLPVectorField(2, 32), 0, 2),
                "ANODE p=1": (lambda: MLPVectorField(3, 32), 1, 3),
            },
        ),
        (
            "digits",
            (xd, yd),
            0.5,
            128,
            1e-2,
            {
                "NODE": (lambda: ConvVectorField(1, 32), 0, 64),
                "ANODE p=5": (lambda: ConvVectorField(6, 32), 5, 6 * 64),
            },
        ),
    ]


def bench_anode_vs_node(p: Profile) -> list[Row]:
    rows = []
    for name, (x, y), target, batch, lr, variants in _anode_cases(p):
        results = {}
        for label, (make, aug, feature_dim) in variants.items():
            torch.manual_seed(0)
            model = _Classifier(AugmentedNeuralODE(make(), aug), feature_dim, 10)
            results[label] = _train_to_target(model, x, y, target, p.train_steps, batch, lr)
        node, anode = results.values()
        for label, r in results.items():
            rows.append(
                Row(
                    "anode_vs_node",
                    f"{name}, {label}",
                    f"seconds to train loss <= {target} (10-step mean)",
                    r["reached"]["seconds"] if r["reached"] else float("nan"),
                    details=r,
                )
            )
        rows.append(
            Row(
                "anode_vs_node",
                name,
                "mean forward NFE ANODE / NODE (training)",
                anode["forward_nfe"] / node["forward_nfe"],
                "< 1",
                anode["forward_nfe"] < node["forward_nfe"],
            )
        )
    return rows


_MEMORY_CHILD = """
import json, resource, sys, torch
from anode_plugin import AugmentedNeuralODE, ConvVectorField
torch.set_num_threads(1)
steps, sensitivity = int(sys.argv[1]), sys.argv[2]
torch.manual_seed(0)
model = AugmentedNeuralODE(ConvVectorField(6, 32), 5, backend="torchdiffeq", solver="rk4",
    sensitivity=sensitivity, solver_options={"step_size": 1.0 / steps})
x = torch.rand(16, 1, 28, 28)
with torch.no_grad():
    model.features(x)
saved = [0]
def pack(t):
    saved[0] += t.numel() * t.element_size()
    return t
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
    loss = model.features(x).pow(2).mean()
loss.backward()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"peak_mib": (peak - base) / 1024, "saved_mib": saved[0] / 2**20,
                  "nfe": model.nfe.as_dict()}))
"""


def bench_memory(p: Profile) -> list[Row]:
    rows, peaks = [], {}
    for sensitivity in ("autograd", "adjoint"):
        for steps in p.memory_steps:
            out = subprocess.run(
                [sys.executable, "-c", _MEMORY_CHILD, str(steps), sensitivity],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            peaks[(sensitivity, steps)] = r["peak_mib"]
            rows.append(
                Row(
                    "memory",
                    f"conv 16x1x28x28, rk4, {steps} steps, {sensitivity}",
                    "peak RSS of a training step above a no-grad solve (MiB)",
                    r["peak_mib"],
                    details=r,
                )
            )
    first, last = p.memory_steps[0], p.memory_steps[-1]
    autograd = peaks[("autograd", last)] - peaks[("autograd", first)]
    adjoint = peaks[("adjoint", last)] - peaks[("adjoint", first)]
    share = adjoint / autograd if autograd > 0 else float("nan")
    rows.append(
        Row(
            "memory",
            f"{first} -> {last} steps",
            "adjoint's memory growth / autograd's",
            share,
            "flat (< 0.1)",
            share < 0.1,
            {"autograd_growth_mib": autograd, "adjoint_growth_mib": adjoint},
        )
    )
    return rows


def _seminorm_case(
    backend: str, seminorm: bool, field: nn.Module, head: nn.Linear, x, y, reduction
):
    model = AugmentedNeuralODE(
        copy.deepcopy(field), 5, backend=backend, sensitivity="adjoint", seminorm=seminorm
    )
    head = copy.deepcopy(head)
    start = time.perf_counter()
    logits = head(model.features(x).flatten(1))
    F.cross_entropy(logits, y, reduction=reduction).backward()
    seconds = time.perf_counter() - start
    grads = torch.cat([q.grad.flatten() for q in model.parameters()])
    return model.nfe.backward, grads, seconds


def bench_seminorm(p: Profile) -> list[Row]:
    rows = []
    torch.manual_seed(0)
    field = ConvVectorField(1 + 5, 32)
    x = torch.rand(p.mnist_batch, 1, 28, 28)
    y = torch.randint(0, 10, (p.mnist_batch,))
    head = nn.Linear(6 * 28 * 28, 10)
    for backend in ("torchdyn", "torchdiffeq"):
        for reduction in ("mean", "sum"):
            semi = _seminorm_case(backend, True, field, head, x, y, reduction)
            full = _seminorm_case(backend, False, field, head, x, y, reduction)
            saving = 1 - semi[0] / full[0]
            diff = float((semi[1] - full[1]).norm() / full[1].norm())
            rows.append(
                Row(
                    "seminorm",
                    f"conv MNIST-sized, {backend}, CE {reduction}",
                    "fewer backward NFE with seminorm",
                    saving,
                    ">= 0.25",
                    saving >= 0.25,
                    {
                        "backward_nfe_seminorm": semi[0],
                        "backward_nfe_full": full[0],
                        "gradient_relative_difference": diff,
                        "seconds_seminorm": semi[2],
                        "seconds_full": full[2],
                    },
                )
            )
    return rows


def bench_regularisers(p: Profile) -> list[Row]:
    rows = []
    for name, (x, y), _, batch, lr, variants in _anode_cases(p):
        make, aug, feature_dim = list(variants.values())[1]
        results = {}
        for label, regs, weight in (
            ("none", (), 0.0),
            ("kinetic+jacobian", ("kinetic", "jacobian"), 0.1),
        ):
            torch.manual_seed(0)
            ode = AugmentedNeuralODE(make(), aug, regularisers=regs)
            model = _Classifier(ode, feature_dim, 10)
            optimizer = torch.optim.Adam(model.parameters(), lr, weight_decay=1e-4)
            generator = torch.Generator().manual_seed(0)
            losses, nfes, elapsed = [], [], 0.0
            for _ in range(p.train_steps):
                idx = torch.randint(0, len(x), (min(batch, 64),), generator=generator)
                ode.reset_nfe()
                start = time.perf_counter()
                optimizer.zero_grad(set_to_none=True)
                task = F.cross_entropy(model(x[idx]), y[idx])
                reg = sum((v.mean() for v in ode.regularisation.values()), torch.zeros(()))
                (task + weight * reg).backward()
                optimizer.step()
                elapsed += time.perf_counter() - start
                losses.append(float(task))
                nfes.append(ode.nfe.forward)
            model.eval()
            with torch.no_grad():
                ode.reset_nfe()
                eval_loss = float(F.cross_entropy(model(x), y))
                eval_nfe = ode.nfe.forward
            results[label] = {
                "train_loss_last10": statistics.mean(losses[-10:]),
                "train_nfe_last10": statistics.mean(nfes[-10:]),
                "eval_loss": eval_loss,
                "eval_nfe": eval_nfe,
                "seconds": elapsed,
            }
        base, reg = results["none"], results["kinetic+jacobian"]
        rows.append(
            Row(
                "regularisers",
                f"{name}, ANODE, weights 0.1 + weight decay 1e-4",
                "forward NFE regularised / plain (whole set, after training)",
                reg["eval_nfe"] / base["eval_nfe"],
                "< 1",
                reg["eval_nfe"] < base["eval_nfe"],
                results,
            )
        )
        rows.append(
            Row(
                "regularisers",
                f"{name}, ANODE",
                "task loss regularised / plain (whole set)",
                reg["eval_loss"] / base["eval_loss"],
                details={"train_time_ratio": reg["seconds"] / base["seconds"]},
            )
        )
    return rows


def bench_compile(p: Profile) -> list[Row]:
    rows = []
    cases = [
        ("MLP, spheres", MLPVectorField(2 + 1, 32), _spheres(256)[0], 1),
        ("conv, digits", ConvVectorField(1 + 5, 32), _digits()[0][: p.efficiency_batch], 5),
    ]
    for name, vf, x, aug in cases:
        models, optimizers, warm = {}, {}, {}
        for compiled in (False, True):
            torch.manual_seed(0)
            field = copy.deepcopy(vf)
            # What a user would write: the package has no compile option (see the guide).
            models[compiled] = AugmentedNeuralODE(torch.compile(field) if compiled else field, aug)
            optimizers[compiled] = torch.optim.Adam(models[compiled].parameters(), 1e-3)
            start = time.perf_counter()
            for _ in range(2):
                _train_step(
                    models[compiled].features, optimizers[compiled], x, lambda z: z.pow(2).mean()
                )
            warm[compiled] = time.perf_counter() - start

        def step(compiled: bool, models=models, optimizers=optimizers, x=x) -> float:
            return _train_step(
                models[compiled].features, optimizers[compiled], x, lambda z: z.pow(2).mean()
            )[0]

        ratio, a, b = _median_ratio(lambda: step(True), lambda: step(False), p.compile_repeats)
        rows.append(
            Row(
                "compile",
                name,
                "steady step time compiled / eager",
                ratio,
                "< 1 to add an option",
                ratio < 1,
                {
                    "compile_warmup_s": warm[True] - warm[False],
                    "compiled_ms": 1e3 * a,
                    "eager_ms": 1e3 * b,
                },
            )
        )
    return rows


BENCHES: dict[str, Callable[[Profile], list[Row]]] = {
    "overhead": bench_overhead,
    "nfe_tracking": bench_nfe_tracking,
    "efficiency": bench_efficiency,
    "conv_field": bench_conv_field,
    "backends": bench_backends,
    "anode_vs_node": bench_anode_vs_node,
    "memory": bench_memory,
    "seminorm": bench_seminorm,
    "regularisers": bench_regularisers,
    "compile": bench_compile,
}


# ---------------------------------------------------------------------- report
def _fmt(value: float) -> str:
    if value != value:
        return "not reached"
    return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"


def _markdown(rows: list[Row], meta: dict[str, Any]) -> str:
    lines = [
        "# anode-plugin benchmarks",
        "",
        f"`{meta['command']}` — profile `{meta['profile']}`, {meta['total_seconds']:.0f} s, "
        f"torch {meta['torch']}, {meta['cpus']} CPUs, load average at start "
        f"{meta['load_average_start']}, one thread.",
        "",
        "| section | case | figure | value | goal | met |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        met = "" if r.met is None else ("yes" if r.met else "no")
        lines.append(
            f"| {r.section} | {r.case} | {r.figure} | {_fmt(r.value)} | {r.goal} | {met} |"
        )
    return "\n".join(lines) + "\n"


def main(
    profile: str = "quick",
    sections: tuple[str, ...] = SECTIONS,
    output_dir: Path = Path("benchmarks/results"),
) -> list[Row]:
    """Run the suite, print the table and write ``latest.json`` and ``latest.md``.

    Args:
        profile: ``'quick'`` (under ten minutes on 2 cores), ``'full'`` or ``'tiny'``
            (a smoke test of the suite itself; its figures mean nothing).
        sections: which sections to run, from ``SECTIONS``.
        output_dir: where the results are written.
    """
    if profile not in PROFILES:
        raise ValueError(f"`profile` must be one of {list(PROFILES)}, got {profile!r}.")
    unknown = [s for s in sections if s not in BENCHES]
    if unknown:
        raise ValueError(f"`sections` must be taken from {list(SECTIONS)}, got {unknown}.")
    torch.set_num_threads(1)
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    settings = PROFILES[profile]
    meta = {
        "command": "python benchmarks/run.py " + " ".join(sys.argv[1:]),
        "profile": profile,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_start": [round(v, 2) for v in os.getloadavg()],
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    rows: list[Row] = []
    start = time.perf_counter()
    for section in sections:
        section_start = time.perf_counter()
        new = BENCHES[section](settings)
        rows.extend(new)
        print(f"[{section}: {time.perf_counter() - section_start:.0f} s]", flush=True)
        for r in new:
            met = "" if r.met is None else ("  ok" if r.met else "  MISSED")
            print(f"  {r.case:48} {r.figure:55} {_fmt(r.value):>12} {r.goal}{met}", flush=True)
    meta["total_seconds"] = time.perf_counter() - start
    meta["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    meta["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "latest.json").write_text(
        json.dumps({"meta": meta, "rows": [asdict(r) for r in rows]}, indent=2, default=str)
    )
    (output_dir / "latest.md").write_text(_markdown(rows, meta))
    print(f"total {meta['total_seconds']:.0f} s; results in {output_dir}")
    return rows


if __name__ == "__main__":
    auto_cli(main)
