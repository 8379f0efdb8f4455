"""``anode-experiments cnf``: plain vs augmented continuous normalizing flows.

For each density (the 2-D toys of :data:`anode_plugin.datasets.DENSITIES` and the
dequantised 8x8 digits) and seed, a plain CNF (``p = 0``, FFJORD) and an augmented CNF
(``p > 0``, a learned ``q(e | x)``, Huang et al., 2020) with at most as many
parameters (the augmented field's width is lowered to match) are trained by Adam on
the negative bound, with the adjoint. Recorded: the held-out NLL (the exact one for the
plain CNF, the importance-weighted bound for the augmented one: an upper bound on its
NLL), bits per dimension for the digits, forward and backward NFE of every training
step, seconds, and for the first seed the density on a grid and samples.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from dataclasses import dataclass
from typing import Any

import torch

from .._cnf import AugmentedCNF
from .._validation import check_choice, check_positive_float, check_positive_int
from .._vector_fields import MLPVectorField
from ..datasets._densities import (
    DENSITIES,
    DIGITS_BIN_WIDTH,
    bits_per_dim,
    density_samples,
    digits_counts,
)
from ._pool import map_jobs

__all__ = ["CNF_CLAIMS", "CNFConfig", "cnf_claims", "match_cnf_hidden", "run_cnf"]

_DENSITY_NAMES = (*DENSITIES, "digits")
MODELS = ("cnf", "augmented_cnf")


@dataclass(frozen=True)
class CNFConfig:
    """Settings of ``anode-experiments cnf``.

    Args:
        densities: names among ``'two_moons'``, ``'concentric_rings'``,
            ``'eight_gaussians'``, ``'checkerboard'`` and ``'digits'``.
        seeds: number of seeds per model and density.
        first_seed: the first seed.
        steps: Adam steps on the 2-D densities.
        digits_steps: Adam steps on the digits.
        batch_size: minibatch size.
        lr: Adam's learning rate.
        hidden_dim: hidden width of the plain CNF's field on the 2-D densities.
        digits_hidden_dim: hidden width of the plain CNF's field on the digits.
        augment_dims: the augmented CNF's ``p`` on the 2-D densities.
        digits_augment_dims: the augmented CNF's ``p`` on the digits.
        q_hidden_dim: hidden width of the learned ``q(e | x)``.
        n_train: training points of a 2-D density (the digits use 1,497 images).
        n_test: held-out points of a 2-D density (the digits keep 300 images).
        tol: ``atol`` and ``rtol`` of the dopri5 solves.
        eval_samples: draws of the importance-weighted bound on held-out data.
        grid: the density figures' grid size per axis.
        figure_samples: samples drawn for the figures (first seed only).
        progress_bar: show a progress bar over the runs.
        num_threads: torch CPU threads per run.
    """

    densities: tuple[str, ...] = (*DENSITIES, "digits")
    seeds: int = 3
    first_seed: int = 0
    steps: int = 300
    digits_steps: int = 200
    batch_size: int = 256
    lr: float = 1e-2
    hidden_dim: int = 32
    digits_hidden_dim: int = 64
    augment_dims: int = 2
    digits_augment_dims: int = 8
    q_hidden_dim: int = 16
    n_train: int = 4000
    n_test: int = 1000
    tol: float = 1e-3
    eval_samples: int = 8
    grid: int = 60
    figure_samples: int = 1000
    progress_bar: bool = False
    num_threads: int = 1

    def __post_init__(self) -> None:
        for name in self.densities:
            check_choice("densities", name, _DENSITY_NAMES)
        for name in (
            "seeds",
            "steps",
            "digits_steps",
            "batch_size",
            "hidden_dim",
            "digits_hidden_dim",
            "augment_dims",
            "digits_augment_dims",
            "q_hidden_dim",
            "n_train",
            "n_test",
            "eval_samples",
            "grid",
            "figure_samples",
            "num_threads",
        ):
            check_positive_int(name, getattr(self, name))
        check_positive_float("lr", self.lr)
        check_positive_float("tol", self.tol)

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict."""
        return dataclasses.asdict(self)


def _mlp_parameters(dim: int, hidden: int) -> int:
    return (dim + 1) * hidden + hidden + hidden * hidden + hidden + hidden * dim + dim


def _q_parameters(d: int, p: int, hidden: int) -> int:
    return d * hidden + hidden + hidden * 2 * p + 2 * p


def match_cnf_hidden(d: int, p: int, hidden: int, q_hidden: int) -> int:
    """The augmented field's width whose parameters (``q`` included) are closest to, and
    at most, those of the plain CNF's field of width ``hidden`` on ``d`` dimensions."""
    budget = _mlp_parameters(d, hidden)
    best = 1
    for width in range(1, 4 * hidden + 1):
        if _mlp_parameters(d + p, width) + _q_parameters(d, p, q_hidden) <= budget:
            best = width
    return best


@dataclass(frozen=True)
class _Job:
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


def _build(job: _Job, d: int) -> AugmentedCNF:
    config, digits = job.config, job.density == "digits"
    hidden = config.digits_hidden_dim if digits else config.hidden_dim
    p = 0
    if job.model == "augmented_cnf":
        p = config.digits_augment_dims if digits else config.augment_dims
        hidden = match_cnf_hidden(d, p, hidden, config.q_hidden_dim)
    field = MLPVectorField(d + p, hidden, activation="tanh")
    return AugmentedCNF(
        field,
        d,
        p,
        q="learned",
        q_hidden_dim=config.q_hidden_dim,
        trace="hutchinson" if digits else "exact",
        probe="rademacher",
        atol=config.tol,
        rtol=config.tol,
        sensitivity="adjoint",
        atol_adjoint=config.tol,
        rtol_adjoint=config.tol,
    )


def _held_out_nll(flow: AugmentedCNF, x: torch.Tensor, samples: int) -> float:
    with torch.no_grad():
        return float(torch.cat([-flow.log_prob(b, samples=samples) for b in x.split(500)]).mean())


def _grid_density(flow: AugmentedCNF, grid: int, samples: int) -> list[list[float]]:
    axis = torch.linspace(-4.5, 4.5, grid)
    xx, yy = torch.meshgrid(axis, axis, indexing="xy")
    points = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)
    with torch.no_grad():
        log_p = torch.cat([flow.log_prob(b, samples=samples) for b in points.split(1000)])
    return log_p.exp().view(grid, grid).tolist()


def _run_job(job: _Job) -> dict[str, Any]:
    config = job.config
    torch.set_num_threads(config.num_threads)
    train, test = _data(job.density, config, job.seed)
    digits = job.density == "digits"
    torch.manual_seed(job.seed)
    d = train.shape[1]
    flow = _build(job, d)
    optimiser = torch.optim.Adam(flow.parameters(), lr=config.lr if not digits else config.lr / 5)
    steps = config.digits_steps if digits else config.steps
    g = torch.Generator().manual_seed(job.seed + 1)
    forward, backward, losses = [], [], []
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(steps):
        batch = train[torch.randint(0, len(train), (config.batch_size,), generator=g)]
        if digits:  # fresh dequantisation noise
            batch = (batch + torch.rand(batch.shape, generator=g)) * DIGITS_BIN_WIDTH - 2
        flow.reset_nfe()
        loss = -flow.log_prob(batch).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        forward.append(flow.nfe.forward)
        backward.append(flow.nfe.backward)
        losses.append(float(loss.detach()))
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    flow.reset_nfe()
    nll = _held_out_nll(flow, test, config.eval_samples)
    result: dict[str, Any] = {
        "density": job.density,
        "model": job.model,
        "seed": job.seed,
        "augment_dims": flow.augment_dims,
        "parameters": sum(p.numel() for p in flow.parameters()),
        "test_nll": nll,
        "bits_per_dim": bits_per_dim(nll, d, DIGITS_BIN_WIDTH) if digits else None,
        "nfe_forward": forward,
        "nfe_backward": backward,
        "train_loss": losses,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
    }
    if job.seed == config.first_seed:
        torch.manual_seed(job.seed + 2)
        with torch.no_grad():
            result["samples"] = flow.sample(config.figure_samples if not digits else 16).tolist()
        if not digits:
            result["density_grid"] = _grid_density(flow, config.grid, config.eval_samples)
    return result


def run_cnf(config: CNFConfig, *, workers: int = 1) -> list[dict[str, Any]]:
    """Train every (density, model, seed) run; returns one result dict per run.

    Args:
        config: the settings.
        workers: worker processes (see :func:`anode_plugin.experiments._pool.map_jobs`);
            the results do not depend on it.
    """
    jobs = [
        _Job(density, model, config.first_seed + s, config)
        for density in config.densities
        for s in range(config.seeds)
        for model in MODELS
    ]
    # The digits runs are the longest: first, so that none runs alone at the end.
    order = sorted(range(len(jobs)), key=lambda i: jobs[i].density != "digits")
    return map_jobs(
        _run_job,
        jobs,
        workers=workers,
        progress=config.progress_bar,
        describe=lambda j: f"{j.density}/{j.model}/{j.seed}",
        submit_order=order,
    )


def _late_mean(values: list[int]) -> float:
    """Mean over the last fifth of training."""
    tail = values[-max(1, len(values) // 5) :]
    return sum(tail) / len(tail)


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (density, model): means and standard deviations over the seeds."""
    rows = []
    keys = sorted(
        {(r["density"], r["model"]) for r in runs},
        key=lambda k: (_DENSITY_NAMES.index(k[0]), MODELS.index(k[1])),
    )
    for density, model in keys:
        group = [r for r in runs if r["density"] == density and r["model"] == model]
        nll = [r["test_nll"] for r in group]
        row = {
            "density": density,
            "model": model,
            "augment_dims": group[0]["augment_dims"],
            "parameters": group[0]["parameters"],
            "seeds": len(group),
            "test_nll": statistics.fmean(nll),
            "test_nll_std": statistics.stdev(nll) if len(nll) > 1 else 0.0,
            "test_nll_per_seed": nll,
            "bits_per_dim": (
                statistics.fmean(r["bits_per_dim"] for r in group)
                if group[0]["bits_per_dim"] is not None
                else None
            ),
            "nfe_forward_late": statistics.fmean(_late_mean(r["nfe_forward"]) for r in group),
            "nfe_backward_late": statistics.fmean(_late_mean(r["nfe_backward"]) for r in group),
            "seconds": statistics.fmean(r["seconds"] for r in group),
            "cpu_seconds": statistics.fmean(r.get("cpu_seconds", r["seconds"]) for r in group),
        }
        rows.append(row)
    return rows


#: The claims the report checks: key -> statement.
CNF_CLAIMS = {
    "lower_nll": (
        "At matched parameters, the augmented CNF's held-out NLL bound is lower than the "
        "plain CNF's exact NLL (mean over seeds)."
    ),
    "lower_nll_every_seed": "... and lower on every seed (same seed for both models).",
    "fewer_nfe": (
        "The augmented CNF needs fewer forward NFE per training step late in training "
        "(the ANODE paper's NFE claim, carried over to flows)."
    ),
}


def cnf_claims(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each claim checked per density from the summary rows: ``holds`` and the figures."""
    checks = []
    for density in dict.fromkeys(r["density"] for r in rows):
        by_model = {r["model"]: r for r in rows if r["density"] == density}
        if set(by_model) != set(MODELS):
            continue
        plain, aug = by_model["cnf"], by_model["augmented_cnf"]
        pairs = list(zip(plain["test_nll_per_seed"], aug["test_nll_per_seed"], strict=True))
        checks += [
            {
                "key": "lower_nll",
                "density": density,
                "holds": aug["test_nll"] < plain["test_nll"],
                "measured": f"{aug['test_nll']:.3f} vs {plain['test_nll']:.3f} nats",
            },
            {
                "key": "lower_nll_every_seed",
                "density": density,
                "holds": all(a < p for p, a in pairs),
                "measured": f"{sum(a < p for p, a in pairs)} of {len(pairs)} seeds",
            },
            {
                "key": "fewer_nfe",
                "density": density,
                "holds": aug["nfe_forward_late"] < plain["nfe_forward_late"],
                "measured": (
                    f"{aug['nfe_forward_late']:.1f} vs {plain['nfe_forward_late']:.1f} "
                    "forward NFE per step"
                ),
            },
        ]
    return checks
