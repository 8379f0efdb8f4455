"""Training steps of the paper's MNIST pair (NODE 92 filters, ANODE 64 filters p=5), timed.

Each step is a forward and a backward pass (dopri5, tolerance 1e-3, adjoint gradients)
and an Adam update of the parameter-matched pair of ``anode-images --dataset mnist``,
on the torchdyn, torchdiffeq and native backends (and the native compiled step on request)
and, on CUDA, in both memory layouts
(contiguous NCHW, channels-last NHWC). Real MNIST images are used when
``<mnist_root>/MNIST/raw`` holds them, otherwise synthetic images of MNIST's shape and
statistics (the NFEs then differ from real training).

Run:
    python benchmarks/gpu_steps.py --out_dir runs/gpu                  # CUDA if present
    python benchmarks/gpu_steps.py --device cpu --steps 1 --batch 8    # a smoke test

Writes ``<out_dir>/gpu_steps.json`` and ``<out_dir>/gpu_steps.md``.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from jsonargparse import auto_cli

from anode_plugin._tf32 import enable_tf32
from anode_plugin.datasets import MNISTDataModule
from anode_plugin.experiments import conv_ode
from anode_plugin.experiments.images import IMAGE_SETUPS
from anode_plugin.lightning import ANODEModule
from anode_plugin.lightning._channels_last import to_channels_last

# "native-compiled": the native backend with each forward step compiled, as CUDA graphs
# on a GPU (torch.compile's "reduce-overhead"), inductor's code on the CPU; not in the
# default set (its compilation takes tens of seconds).
BACKENDS = ("torchdyn", "torchdiffeq", "native", "native-compiled")
DEFAULT_BACKENDS = ("torchdyn", "torchdiffeq", "native")
LAYOUTS = ("contiguous", "channels_last")


def _batch(mnist_root: str | None, batch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    """One batch of MNIST images and labels, or synthetic ones of the same shape."""
    if mnist_root is not None and (Path(mnist_root) / "MNIST" / "raw").is_dir():
        dm = MNISTDataModule(data_dir=mnist_root, batch_size=batch, seed=seed)
        dm.setup("fit")
        x, y = next(iter(dm.train_dataloader()))
        return x, y, "mnist"
    generator = torch.Generator().manual_seed(seed)
    # MNIST's normalised pixels: mostly background (-0.42), some strokes (up to 2.8).
    strokes = torch.rand(batch, 1, 28, 28, generator=generator) < 0.19
    x = torch.where(strokes, torch.tensor(2.8), torch.tensor(-0.4242))
    y = torch.randint(0, 10, (batch,), generator=generator)
    return x, y, "synthetic"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(
    model_name: str,
    backend: str,
    layout: str,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    device: torch.device,
    steps: int,
    warmup: int,
    anode_filters: int | None,
    node_filters: int | None = None,
) -> dict[str, Any]:
    """Seconds and NFEs of ``steps`` training steps after ``warmup`` untimed ones."""
    setup = IMAGE_SETUPS["mnist"]
    if anode_filters is not None:
        from anode_plugin.experiments.images._setups import anode_budget

        budget = anode_budget(setup.datamodule, setup.augment_dims, anode_filters)
        setup = type(setup)(**{**setup.__dict__, "anode_filters": anode_filters, "budget": budget})
    torch.manual_seed(0)
    p = setup.p(model_name)
    filters = setup.filters(model_name)
    if model_name == "node" and node_filters is not None:
        filters = node_filters
    if backend == "native-compiled":
        from anode_plugin import AugmentedNeuralODE
        from anode_plugin.solve import Adjoint, NativeBackend, Solve

        mode = {"mode": "reduce-overhead"} if device.type == "cuda" else True
        field = conv_ode(1, filters, augment_dims=p).vector_field
        solve = Solve(NativeBackend(compile=mode), Adjoint(atol=1e-3, rtol=1e-3))
        ode = AugmentedNeuralODE(field, augment_dims=p, solve=solve)
    else:
        ode = conv_ode(1, filters, augment_dims=p, backend=backend)
    module = ANODEModule(ode, num_outputs=10, feature_dim=(1 + p) * 28 * 28).to(device)
    if layout == "channels_last":
        to_channels_last(module)
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    x, y = x.to(device), y.to(device)
    seconds, forward, backward, losses = [], [], [], []
    for i in range(warmup + steps):
        ode.reset_nfe()
        _sync(device)
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(module(x), y)
        loss.backward()
        optimizer.step()
        _sync(device)
        if i >= warmup:
            seconds.append(time.perf_counter() - start)
            forward.append(ode.nfe.forward)
            backward.append(ode.nfe.backward)
            losses.append(float(loss.detach()))
    return {
        "model": model_name,
        "backend": backend,
        "layout": layout,
        "filters": filters,
        "augment_dims": p,
        "parameters": sum(q.numel() for q in module.parameters()),
        "steps": steps,
        "median_step_s": statistics.median(seconds),
        "mean_step_s": statistics.fmean(seconds),
        "nfe_forward": statistics.fmean(forward),
        "nfe_backward": statistics.fmean(backward),
        "final_loss": losses[-1],
    }


def _markdown(meta: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    lines = [
        f"Device: {meta['device_name']} ({meta['device']}); batch {meta['batch']}; "
        f"{meta['steps']} timed steps after {meta['warmup']} warm-up; data: {meta['data']}; "
        f"torch {meta['torch']}.",
        "",
        "| Model | Backend | Layout | Filters | p | Parameters | Median step (s) "
        "| NFE forward | NFE backward |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model'].upper()} | {r['backend']} | {r['layout']} | {r['filters']} "
            f"| {r['augment_dims']} | {r['parameters']:,} | {r['median_step_s']:.4f} "
            f"| {r['nfe_forward']:.1f} | {r['nfe_backward']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(
    device: str | None = None,
    steps: int = 20,
    batch: int = 256,
    warmup: int = 2,
    out_dir: str = "runs/gpu",
    mnist_root: str | None = "../shared/data",
    anode_filters: int | None = None,
    node_filters: int | None = None,
    layouts: list[str] | None = None,
    backends: list[str] | None = None,
) -> Path:
    """Time training steps of the MNIST NODE/ANODE pair; write JSON and markdown.

    Args:
        device: ``'cuda'``, ``'cpu'``, ...; ``None`` picks CUDA when available.
        steps: timed steps per configuration.
        batch: images per step (the paper's 256).
        warmup: untimed steps first (cuDNN autotuning, allocator warm-up).
        out_dir: where ``gpu_steps.json`` and ``gpu_steps.md`` go.
        mnist_root: folder holding ``MNIST/raw``; synthetic images when absent.
        anode_filters: replace the ANODE's 64 filters (the NODE is matched again), e.g.
            for a quick CPU run.
        node_filters: replace the NODE's matched filter count (the pair is then no
            longer matched), for a quick CPU run.
        layouts: memory layouts to time; ``None``: both on CUDA, contiguous elsewhere.
        backends: backends to time, from ``BACKENDS``; ``None``: ``DEFAULT_BACKENDS``.

    Returns:
        The path of the JSON file.
    """
    target = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if target.type == "cuda":
        enable_tf32()
        torch.backends.cudnn.benchmark = True
    layouts = layouts or (list(LAYOUTS) if target.type == "cuda" else ["contiguous"])
    backends = backends or list(DEFAULT_BACKENDS)
    bad = [v for v in layouts if v not in LAYOUTS] + [v for v in backends if v not in BACKENDS]
    if bad:
        raise ValueError(f"unknown layouts/backends {bad}; allowed: {LAYOUTS}, {BACKENDS}.")
    x, y, data = _batch(mnist_root, batch, seed=0)
    rows = []
    for backend in backends:
        for layout in layouts:
            for model in ("node", "anode"):
                row = time_steps(
                    model,
                    backend,
                    layout,
                    x,
                    y,
                    device=target,
                    steps=steps,
                    warmup=warmup,
                    anode_filters=anode_filters,
                    node_filters=node_filters,
                )
                rows.append(row)
                print(
                    f"{model.upper():5s} {backend:11s} {layout:13s} "
                    f"median step {row['median_step_s']:.4f} s, NFE fwd "
                    f"{row['nfe_forward']:.1f} bwd {row['nfe_backward']:.1f}",
                    flush=True,
                )
    meta = {
        "device": str(target),
        "device_name": (
            torch.cuda.get_device_name(target)
            if target.type == "cuda"
            else platform.processor() or platform.machine()
        ),
        "torch": torch.__version__,
        "batch": batch,
        "steps": steps,
        "warmup": warmup,
        "data": data,
        "anode_filters": anode_filters,
        "node_filters": node_filters,
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "gpu_steps.json"
    path.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    (out / "gpu_steps.md").write_text(_markdown(meta, rows))
    return path


if __name__ == "__main__":
    auto_cli(main)
