"""``anode-experiments augmentations``: which augmentation fits, and at what NFE.

NODE, zero augmentation (ANODE, Dupont et al., 2019), a learned input layer (IL-NODE,
Massaroli et al., 2020) and second-order augmentation (SONODE, Norcliffe et al., 2020),
at matched parameter counts, over several seeds, on three tasks:

- ``g1d``: the 1-D map ``x -> -x`` on ``{-1, 1}``, fitted by the flow alone (the
  prediction is the original coordinate of ``phi(x)``, no readout);
- ``spheres_d2``: the concentric spheres in 2-D, a linear readout on ``phi(x)``;
- ``oscillator``: a damped oscillator ``x'' = -w^2 x - c x'`` from ``x(0)`` (and
  ``x'(0) = 0``): the model predicts the trajectory ``x(t_k)`` at ``K`` times from
  ``x(0)`` alone. All true trajectories pass through ``0`` at the same times, which
  the flow of a 1-D ODE cannot do.

Each run is a full-batch Adam loop (no Lightning: the runs are tiny and the loop
records the NFE of every step); the runs are spread over worker processes by
:func:`~anode_plugin.experiments._shared.map_jobs`.
"""

from __future__ import annotations

from typing import Any

from .._shared import map_jobs
from ._config import AUGMENTATION_KINDS, AUGMENTATION_TASKS, AugmentationsConfig
from ._runs import AugmentationRun, train_augmentation_run

__all__ = ["run_augmentations"]


def run_augmentations(config: AugmentationsConfig, *, workers: int = 1) -> dict[str, Any]:
    """Every (task, kind, seed) run, in ``workers`` processes; the results by task and kind.

    Args:
        config: the settings (``quick`` is applied here).
        workers: worker processes; the results do not depend on it.

    Returns:
        ``{task: {kind: {"runs": [per seed], "hidden_dim", "num_parameters", ...}}}``.
    """
    effective = config.effective()
    runs = [
        AugmentationRun(kind, task, seed, effective, with_viz=index == 0)
        for task in AUGMENTATION_TASKS
        for index, seed in enumerate(effective.seed_list)
        for kind in AUGMENTATION_KINDS
    ]
    # The second-order and oscillator runs take longest: hand them out first.
    weight = {"oscillator": 3.0, "spheres_d2": 2.0, "g1d": 1.0}
    order = sorted(range(len(runs)), key=lambda i: -weight[runs[i].task])
    outcomes = map_jobs(
        train_augmentation_run,
        runs,
        workers=workers,
        progress=config.progress_bar,
        describe=AugmentationRun.describe,
        submit_order=order,
    )
    results: dict[str, Any] = {task: {} for task in AUGMENTATION_TASKS}
    for outcome in outcomes:
        entry = results[outcome["task"]].setdefault(
            outcome["kind"],
            {
                "hidden_dim": outcome["hidden_dim"],
                "num_parameters": outcome["num_parameters"],
                "parameter_budget": outcome["parameter_budget"],
                "runs": [],
            },
        )
        if "viz" in outcome:
            entry["viz"] = outcome.pop("viz")
        entry["runs"].append(outcome)
    return results
