"""The paper's MNIST pair on a CPU: what a training step costs, and whether the
convolutions' memory layout changes it (issue 34, ``anode-images --profile mnist-cpu``).

Two measurements, interleaved, medians over ``repeats``, at the profile's batch:

- the vector field alone, one evaluation and its backward (what every NFE costs), in
  the layout ``ConvVectorField`` uses on a CPU (channels-last inside, NCHW at its
  boundary) and in plain NCHW, same weights, outputs compared;
- one whole training step (forward solve, adjoint, Adam) of the NODE (92 filters) and
  the ANODE (64 filters, p=5) on the native backend, from the same initial weights.

Run:
    python benchmarks/mnist_cpu.py --threads 2 --repeats 10
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from jsonargparse import auto_cli

from anode_plugin import ConvVectorField
from anode_plugin.experiments import conv_ode
from anode_plugin.experiments.images import IMAGE_SETUPS
from anode_plugin.lightning import ANODEModule


class _NCHWField(ConvVectorField):
    """``ConvVectorField`` without its channels-last conversion: plain NCHW throughout."""

    def forward(self, t, x, args=None):
        h = self.activation(self.conv1(t, x))
        h = self.activation(self.conv2(t, h))
        return self.conv3(t, h)


def _median(fn, repeats: int) -> float:
    fn()  # warm-up: oneDNN picks and caches its kernels on the first call
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _field_pass(field, x):
    def run():
        out = field(torch.tensor(0.5), x)
        grad = torch.autograd.grad(out, [x, *field.parameters()], torch.ones_like(out))
        return out, grad

    return run


def field_layouts(channels: int, filters: int, batch: int, repeats: int) -> dict:
    """One evaluation + backward of the field, channels-last inside vs NCHW."""
    torch.manual_seed(0)
    ours = ConvVectorField(channels, filters)
    plain = _NCHWField(channels, filters)
    plain.load_state_dict(ours.state_dict())
    x = torch.randn(batch, channels, 28, 28, requires_grad=True)
    out_ours, grads_ours = _field_pass(ours, x)()
    out_plain, grads_plain = _field_pass(plain, x)()
    # The outputs agree to rounding. A gradient can differ more where a ReLU's input lies
    # within rounding of 0 in one layout and not the other: compared by norm.
    output_difference = float((out_ours - out_plain).detach().abs().max())
    gradient_difference = max(
        float((a - b).norm() / b.norm()) for a, b in zip(grads_ours, grads_plain, strict=True)
    )
    seconds = {"channels_last": [], "nchw": []}
    for _ in range(3):  # interleaved rounds: a load change hits both alike
        seconds["channels_last"].append(_median(_field_pass(ours, x), repeats))
        seconds["nchw"].append(_median(_field_pass(plain, x), repeats))
    cl, nchw = min(seconds["channels_last"]), min(seconds["nchw"])
    return {
        "channels": channels,
        "filters": filters,
        "channels_last_ms": 1000 * cl,
        "nchw_ms": 1000 * nchw,
        "ratio": cl / nchw,
        "output_max_abs_difference": output_difference,
        "gradient_max_relative_difference": gradient_difference,
    }


def training_step(model_name: str, batch: int, repeats: int) -> dict:
    """Seconds of one training step of the set-up's model, at its initial weights."""
    setup = IMAGE_SETUPS["mnist"]
    torch.manual_seed(0)
    p = setup.p(model_name)
    ode = conv_ode(1, setup.filters(model_name), augment_dims=p, backend="native")
    model = ANODEModule(ode, num_outputs=10, feature_dim=(1 + p) * 28 * 28)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.rand(batch, 1, 28, 28), torch.randint(0, 10, (batch,))

    def step():
        optimiser.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimiser.step()

    seconds = _median(step, repeats)
    return {
        "model": model_name,
        "filters": setup.filters(model_name),
        "p": p,
        "parameters": sum(q.numel() for q in model.parameters()),
        "seconds_per_step": seconds,
    }


def main(threads: int = 2, repeats: int = 10, batch: int = 32) -> dict:
    """Measure both; print a table; save ``benchmarks/results/mnist_cpu.json``."""
    torch.set_num_threads(threads)
    setup = IMAGE_SETUPS["mnist"]
    fields = [
        field_layouts(1 + setup.p(m), setup.filters(m), batch, repeats) for m in ("node", "anode")
    ]
    steps = [training_step(m, batch, max(3, repeats // 3)) for m in ("node", "anode")]
    for f in fields:
        print(
            f"field {f['channels']} ch, {f['filters']} filters, batch {batch}: channels-last "
            f"{f['channels_last_ms']:.1f} ms, NCHW {f['nchw_ms']:.1f} ms ({f['ratio']:.2f}x); "
            f"outputs differ by at most {f['output_max_abs_difference']:.1e}, gradients by "
            f"{f['gradient_max_relative_difference']:.1e} (relative, by norm)"
        )
    for s in steps:
        print(
            f"training step, {s['model'].upper()} ({s['filters']} filters, p={s['p']}, "
            f"{s['parameters']:,} parameters), batch {batch}: {s['seconds_per_step']:.2f} s"
        )
    document = {
        "threads": threads,
        "batch": batch,
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "fields": fields,
        "steps": steps,
    }
    out = Path(__file__).parent / "results" / "mnist_cpu.json"
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"saved {out}")
    return document


if __name__ == "__main__":
    auto_cli(main)
