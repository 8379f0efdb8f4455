"""One run of ``anode-experiments cnf``: train a flow, then evaluate it on held-out data."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import torch

from ..._cnf import AugmentedCNF, require_torchcfm
from ...datasets._densities import DIGITS_BIN_WIDTH, bits_per_dim, density_samples, digits_counts
from ...solve import Autograd, Solve, TorchdiffeqBackend
from ._config import FLOW_MATCHED, CNFConfig, build_flow

__all__ = ["CNFJob", "iw_bounds", "run_job"]


@dataclass(frozen=True)
class CNFJob:
    """One (density, model, seed) run."""

    density: str
    model: str
    seed: int
    config: CNFConfig


def _data(density: str, config: CNFConfig, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    if density != "digits":
        train = density_samples(density, config.n_train, seed=seed)
        return train, density_samples(density, config.n_test, seed=seed + 10_000)
    counts = digits_counts()
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(counts), generator=g)
    test_counts = counts[order[:300]]
    test = (test_counts + torch.rand(test_counts.shape, generator=g)) * DIGITS_BIN_WIDTH - 2
    return counts[order[300:]], test


def _held_out_nll(flow: AugmentedCNF, x: torch.Tensor, samples: int) -> float:
    with torch.no_grad():
        return float(torch.cat([-flow.log_prob(b, samples=samples) for b in x.split(500)]).mean())


def _matched_nll(flow: AugmentedCNF, x: torch.Tensor, config: CNFConfig) -> float:
    """The held-out NLL with rk4 at ``matched_steps`` fixed steps: the same evaluations
    for every model."""
    trained = flow.solve
    duration = float(flow.t_span[-1] - flow.t_span[0])
    options = {"step_size": duration / config.matched_steps}
    flow.solve = Solve(TorchdiffeqBackend("rk4", options=options), Autograd())
    try:
        return _held_out_nll(flow, x, config.eval_samples)
    finally:
        flow.solve = trained


def iw_bounds(flow: AugmentedCNF, x: torch.Tensor, max_samples: int) -> dict[int, float]:
    """The mean importance-weighted bound on held-out ``x`` for ``k = 1, 2, 4, ...``.

    Args:
        flow: a trained flow.
        x: held-out data, ``[n, data_dims]``.
        max_samples: the largest ``k`` (powers of 2 up to it).

    Returns:
        ``{k: mean bound in nats}``.
    """
    bounds = {}
    for exponent in range(int(math.log2(max_samples)) + 1):
        k = 2**exponent
        chunk = max(1, 65_536 // k)  # at most 65,536 rows per solve
        with torch.no_grad():
            values = torch.cat([flow.log_prob(b, samples=k) for b in x.split(chunk)])
        bounds[k] = float(values.mean())
    return bounds


def _grid_density(flow: AugmentedCNF, grid: int, samples: int) -> list[list[float]]:
    axis = torch.linspace(-4.5, 4.5, grid)
    xx, yy = torch.meshgrid(axis, axis, indexing="xy")
    points = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)
    with torch.no_grad():
        log_p = torch.cat([flow.log_prob(b, samples=samples) for b in points.split(1000)])
    return log_p.exp().view(grid, grid).tolist()


def _train(flow: AugmentedCNF, train: torch.Tensor, job: CNFJob) -> dict[str, Any]:
    config, digits = job.config, job.density == "digits"
    matching = job.model in FLOW_MATCHED
    if matching:
        steps = config.digits_fm_steps if digits else config.fm_steps
        lr = config.fm_lr
    else:
        steps = config.digits_steps if digits else config.steps
        lr = config.lr / 5 if digits else config.lr
    if matching:  # imported before the clock starts: POT's import takes seconds
        require_torchcfm()

    optimiser = torch.optim.Adam(flow.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps)
    g = torch.Generator().manual_seed(job.seed + 1)
    forward, backward, losses = [], [], []
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(steps):
        batch = train[torch.randint(0, len(train), (config.batch_size,), generator=g)]
        if digits:  # fresh dequantisation noise
            batch = (batch + torch.rand(batch.shape, generator=g)) * DIGITS_BIN_WIDTH - 2
        flow.reset_nfe()
        loss = flow.flow_matching_loss(batch) if matching else -flow.log_prob(batch).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        forward.append(flow.nfe.forward)
        backward.append(flow.nfe.backward)
        losses.append(float(loss.detach()))
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    return {
        "steps": steps,
        "nfe_forward": forward,
        "nfe_backward": backward,
        "train_loss": losses,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "seconds_per_step": seconds / steps,
    }


def run_job(job: CNFJob) -> dict[str, Any]:
    """Train and evaluate one run; returns its JSON-ready record."""
    config = job.config
    torch.set_num_threads(config.num_threads)
    train, test = _data(job.density, config, job.seed)
    digits = job.density == "digits"
    torch.manual_seed(job.seed)
    d = train.shape[1]
    flow = build_flow(job.model, d, config, digits=digits)
    result: dict[str, Any] = {
        "density": job.density,
        "model": job.model,
        "seed": job.seed,
        "augment_dims": flow.augment_dims,
        "augmentation": flow.augmentation if flow.augment_dims else None,
        "exact": flow.is_exact,
        "parameters": sum(p.numel() for p in flow.parameters()),
        **_train(flow, train, job),
    }
    flow.reset_nfe()
    nll = _held_out_nll(flow, test, config.eval_samples)
    result["test_nll"] = nll
    last = flow.stats.last  # the last held-out chunk's solve
    result["eval_nfe"] = None if last is None else int(last.nfe)
    result["test_nll_matched"] = _matched_nll(flow, test, config)
    result["bits_per_dim"] = bits_per_dim(nll, d, DIGITS_BIN_WIDTH) if digits else None
    if not flow.is_exact:
        torch.manual_seed(job.seed + 3)
        bounds = iw_bounds(flow, test[: config.iw_points], config.iw_max_samples)
        result["iw_bounds"] = {str(k): v for k, v in bounds.items()}
    if job.seed == config.first_seed:
        torch.manual_seed(job.seed + 2)
        with torch.no_grad():
            result["samples"] = flow.sample(config.figure_samples if not digits else 16).tolist()
        if not digits:
            result["density_grid"] = _grid_density(flow, config.grid, config.eval_samples)
    return result
