"""Training-step overhead of ``AugmentedNeuralODE`` over the same model hand-built from torchdyn.

Both models use the same vector field weights, solver, tolerances, sensitivity and data.
Steps alternate between the two models so that machine load affects both alike; the
figure is the median over repeats of (our step time / torchdyn step time).

Run:
    python benchmarks/overhead.py --repeats 30 --output benchmarks/results/overhead.json
"""

from __future__ import annotations

import copy
import json
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from jsonargparse import auto_cli
from torch import nn
from torchdyn.core import NeuralODE
from torchdyn.nn import Augmenter as TorchdynAugmenter

from anode_plugin import AugmentedNeuralODE, ConvVectorField, MLPVectorField


@dataclass
class OverheadResult:
    case: str
    sensitivity: str
    median_ratio: float
    median_ours_ms: float
    median_torchdyn_ms: float
    nfe_forward_ours: int
    nfe_torchdyn: float
    nfe_identical: bool


def _case(name: str, seed: int) -> tuple[nn.Module, torch.Tensor, int]:
    generator = torch.Generator().manual_seed(seed)
    if name == "mlp":
        return MLPVectorField(2 + 3, 32), torch.randn(256, 2, generator=generator), 3
    if name == "conv":
        return ConvVectorField(1 + 5, 32), torch.rand(32, 1, 14, 14, generator=generator), 5
    raise ValueError(f"`case` must be 'mlp' or 'conv', got {name!r}.")


def _step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor) -> float:
    start = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    features = model(x)[-1]
    features.pow(2).mean().backward()
    optimizer.step()
    return time.perf_counter() - start


def measure(case: str, sensitivity: str, repeats: int, seed: int = 0) -> OverheadResult:
    """Time alternating training steps of both models; returns the median ratio."""
    torch.manual_seed(seed)
    field, x, p = _case(case, seed)
    # torchdyn's solver on both sides: the figure is the price of the package's wrapping.
    ours = AugmentedNeuralODE(
        copy.deepcopy(field),
        augment_dims=p,
        sensitivity=sensitivity,
        return_t_eval=False,
        backend="torchdyn",
    )
    node = NeuralODE(
        copy.deepcopy(field), solver="dopri5", sensitivity=sensitivity, return_t_eval=False
    )
    theirs = nn.Sequential(TorchdynAugmenter(1, p, order="last"), node)
    opt_ours = torch.optim.Adam(ours.parameters(), lr=1e-3)
    opt_theirs = torch.optim.Adam(theirs.parameters(), lr=1e-3)
    for _ in range(3):  # warm-up
        _step(ours, opt_ours, x)
        _step(theirs, opt_theirs, x)
    ours.reset_nfe()
    node.vf.nfe = 0.0
    ratios, t_ours, t_theirs = [], [], []
    for i in range(repeats):
        # Alternate which model goes first, so neither always runs on a warmer cache.
        if i % 2:
            a = _step(ours, opt_ours, x)
            b = _step(theirs, opt_theirs, x)
        else:
            b = _step(theirs, opt_theirs, x)
            a = _step(ours, opt_ours, x)
        ratios.append(a / b)
        t_ours.append(a)
        t_theirs.append(b)
    total_ours = ours.nfe.total
    return OverheadResult(
        case=case,
        sensitivity=sensitivity,
        median_ratio=statistics.median(ratios),
        median_ours_ms=1e3 * statistics.median(t_ours),
        median_torchdyn_ms=1e3 * statistics.median(t_theirs),
        nfe_forward_ours=ours.nfe.forward,
        nfe_torchdyn=node.vf.nfe,
        nfe_identical=float(total_ours) == node.vf.nfe,
    )


def main(
    repeats: int = 30,
    cases: tuple[str, ...] = ("mlp", "conv"),
    sensitivities: tuple[str, ...] = ("autograd", "adjoint"),
    output: Path | None = None,
) -> list[OverheadResult]:
    """Print and optionally save the overhead table.

    Args:
        repeats: timed training steps per model and case.
        cases: 'mlp' (batch 256, d=2, p=3) and/or 'conv' (batch 32, 1x14x14, p=5).
        sensitivities: torchdyn sensitivities to compare.
        output: JSON file to write the results to.
    """
    torch.set_num_threads(1)
    results = [measure(c, s, repeats) for c in cases for s in sensitivities]
    header = ("case", "sensitivity", "ratio", "ours ms", "torchdyn ms", "same NFE")
    print("{:6} {:12} {:>7} {:>9} {:>12} {:>9}".format(*header))
    for r in results:
        print(
            f"{r.case:6} {r.sensitivity:12} {r.median_ratio:7.3f} {r.median_ours_ms:9.2f} "
            f"{r.median_torchdyn_ms:12.2f} {r.nfe_identical!s:>9}"
        )
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return results


if __name__ == "__main__":
    auto_cli(main)
