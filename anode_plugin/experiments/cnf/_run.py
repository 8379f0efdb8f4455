"""Every run of ``anode-experiments cnf``, spread over worker processes."""

from __future__ import annotations

from typing import Any

from .._shared import map_jobs
from ._config import FLOW_MATCHED, CNFConfig
from ._train import CNFJob, run_job

__all__ = ["run_cnf"]


def run_cnf(config: CNFConfig, *, workers: int = 1) -> list[dict[str, Any]]:
    """Train every (density, model, seed) run; returns one result dict per run.

    Args:
        config: the settings.
        workers: worker processes (see :func:`~anode_plugin.experiments._shared.map_jobs`);
            the results do not depend on it.
    """
    jobs = [
        CNFJob(density, model, config.first_seed + s, config)
        for density in config.densities
        for s in range(config.seeds)
        for model in config.models
    ]
    # Maximum likelihood on the digits takes longest: first, so none runs alone at the end.
    order = sorted(
        range(len(jobs)),
        key=lambda i: (jobs[i].model in FLOW_MATCHED, jobs[i].density != "digits"),
    )
    return map_jobs(
        run_job,
        jobs,
        workers=workers,
        progress=config.progress_bar,
        describe=lambda j: f"{j.density}/{j.model}/{j.seed}",
        submit_order=order,
    )
