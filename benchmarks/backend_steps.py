"""Training-step time of an image set-up's NODE/ANODE pair on both backends, on the CPU.

The measurement behind the image configs' default backend (docs/guides/images.md).
Each step is a forward and a backward pass (dopri5, tolerance 1e-3, adjoint gradients)
and an Adam update, on the same batch from the same initial weights (seed 0) for both
backends; the NFEs of the two backends are printed beside the times as a check that
they solve the same problem. Real images (digits; MNIST when ``mnist_root`` holds
them, otherwise synthetic MNIST-shaped ones).

Run:
    python benchmarks/backend_steps.py --dataset digits --steps 5
    python benchmarks/backend_steps.py --dataset mnist --steps 3 --mnist_root ../shared/data
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from gpu_steps import _batch
from jsonargparse import auto_cli

from anode_plugin.datasets import DigitsDataModule
from anode_plugin.experiments import conv_ode
from anode_plugin.experiments.images import IMAGE_SETUPS
from anode_plugin.lightning import ANODEModule


def main(
    dataset: str = "digits",
    steps: int = 5,
    warmup: int = 1,
    batch: int = 256,
    mnist_root: str | None = "../shared/data",
    out: str | None = None,
    models: tuple[str, ...] = ("node", "anode"),
    backends: tuple[str, ...] = ("torchdyn", "torchdiffeq", "native"),
) -> list[dict]:
    """Median seconds of ``steps`` training steps per model and backend."""
    setup = IMAGE_SETUPS[dataset]
    if dataset == "digits":
        dm = DigitsDataModule(batch_size=batch, seed=0)
        dm.setup("fit")
        x, y = next(iter(dm.train_dataloader()))
    else:
        x, y, _ = _batch(mnist_root, batch, seed=0)
    c, h, w = setup.datamodule.image_shape
    rows = []
    for model in models:
        for backend in backends:
            torch.manual_seed(0)
            p = setup.p(model)
            ode = conv_ode(c, setup.filters(model), augment_dims=p, backend=backend)
            module = ANODEModule(ode, num_outputs=10, feature_dim=(c + p) * h * w)
            optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
            seconds, fwd, bwd = [], [], []
            for i in range(warmup + steps):
                ode.reset_nfe()
                start = time.perf_counter()
                optimizer.zero_grad(set_to_none=True)
                F.cross_entropy(module(x), y).backward()
                optimizer.step()
                if i >= warmup:
                    seconds.append(time.perf_counter() - start)
                    fwd.append(ode.nfe.forward)
                    bwd.append(ode.nfe.backward)
            row = {
                "dataset": dataset,
                "model": model,
                "backend": backend,
                "filters": setup.filters(model),
                "batch": len(x),
                "median_step_s": statistics.median(seconds),
                "seconds": seconds,
                "nfe_forward": fwd,
                "nfe_backward": bwd,
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    if out is not None:
        Path(out).write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    auto_cli(main)
