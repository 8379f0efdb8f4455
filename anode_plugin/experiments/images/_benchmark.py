"""Table 1 and Figures 10-12 of the paper: parameter-matched NODE vs ANODE on images.

The driver: one run per seed and model (``_run``), then the table, ``runs.json``, the
figures and the claims (``_report``, ``_figures``). Its options are
:class:`ImageBenchmarkConfig` (``_config``); the set-ups are in ``_setups``.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path

import torch

from ..._atomic import write_text_atomic
from ..._reconstruction_tolerances import RECONSTRUCTION_THRESHOLD, TOLERANCE_LADDER
from ..._tf32 import enable_tf32
from ...lightning._quiet import quiet_lightning
from ._config import ImageBenchmarkConfig
from ._data import check_own_data, data_name, datamodule_factory
from ._figures import save_figures
from ._image_claims import image_claims
from ._progress import EpochProgress, format_seconds
from ._report import claims_report, reconstruction_line, table
from ._run import run_one
from ._setups import DEFAULT_BACKEND, MODELS

__all__ = [
    "run_benchmark",
    "run_image_benchmark",
]


def run_benchmark(config: ImageBenchmarkConfig) -> Path:
    """Train the parameter-matched NODE and ANODE over seeds; write Table 1 and figures.

    Args:
        config: what to run and where to write it (see :class:`ImageBenchmarkConfig`).

    Returns:
        The path of the markdown table, ``<out_dir>/<name>/table.md``.
    """
    setup = config.setup()
    make_datamodule = datamodule_factory(
        setup, config.data_source, config.torchvision_dataset, config.channels
    )
    label = data_name(
        config.dataset, config.name, config.data_source, config.torchvision_dataset, config.data_dir
    )
    if config.data_source is not None:
        setup = replace(setup, paper=None)  # the paper's figures are of the paper's data
    if torch.cuda.is_available():
        enable_tf32()
    epochs, reconstruction = config.epochs(setup), config.reconstruction
    data_kwargs = config.data_kwargs(setup)
    if config.data_source is not None:
        check_own_data(setup, config.dataset, make_datamodule(**data_kwargs))
    folder = Path(config.out_dir) / label
    folder.mkdir(parents=True, exist_ok=True)
    runs = []
    plan = list(itertools.product(config.seeds, config.models))
    length = f"{epochs} epoch(s)"
    if config.max_steps != -1:
        length += f", at most {config.max_steps} step(s)"
    with quiet_lightning(".*Total length of .* across ranks is zero.*"):
        for index, (seed, model) in enumerate(plan, start=1):
            # Lightning's progress bar is off: these lines say what runs and how far it is.
            tag = f"[{label}] run {index}/{len(plan)}: {model.upper()} seed={seed}"
            print(f"{tag}: training, {length} ...", flush=True)
            start = time.perf_counter()
            run = run_one(
                setup,
                model,
                seed,
                make_datamodule=make_datamodule,
                data_kwargs=data_kwargs,
                max_epochs=epochs,
                max_steps=config.max_steps,
                accelerator=config.accelerator,
                reconstruction=reconstruction,
                channels_last=config.channels_last,
                backend=config.backend,
                callbacks=[EpochProgress(tag)],
            )
            runs.append(run)
            print(
                f"{tag}: test acc {100 * run['test_acc']:.2f}% "
                f"NFE fwd {run['nfe_forward']:.1f} bwd {run['nfe_backward']:.1f} "
                f"({format_seconds(run['train_seconds'])} training, "
                f"{format_seconds(time.perf_counter() - start)} in all, on {run['device']})"
                f"{reconstruction_line(run)}",
                flush=True,
            )
    settings = {
        "dataset": config.dataset,
        "name": label,
        "epochs": epochs,
        "max_steps": config.max_steps,
        "quick": config.quick,
        "data_source": config.data_source,
        "torchvision_dataset": config.torchvision_dataset,
        "channels": config.channels,
        "channels_last": config.channels_last,
        "backend": config.backend,
        "profile": config.profile,
        "reconstruction": {**reconstruction, "ladder": list(reconstruction["ladder"])},
        **{k: v for k, v in data_kwargs.items() if k != "download"},
        "setup": {k: v for k, v in asdict(setup).items() if k != "datamodule"},
    }
    both = {r["model"] for r in runs} == set(MODELS)
    checks = image_claims(runs) if both else []
    saved = {"settings": settings, "runs": runs, "claims": [c.as_dict() for c in checks]}
    write_text_atomic(folder / "runs.json", json.dumps(saved, indent=1))
    path = folder / "table.md"
    write_text_atomic(path, table(label, setup, runs, reconstruction))
    save_figures(label, runs, folder / "figures.png")
    if both:
        report = claims_report(label, setup, runs, settings, checks)
        write_text_atomic(folder / "claims.md", report)
    return path


def run_image_benchmark(
    dataset: str | None = None,
    *,
    seeds: Sequence[int] | None = None,
    models: Sequence[str] = MODELS,
    quick: bool = False,
    max_epochs: int | None = None,
    max_steps: int | None = None,
    data_dir: str = "data",
    download: bool = False,
    batch_size: int | None = None,
    train_subset: int | None = None,
    test_subset: int | None = None,
    num_workers: int = 0,
    accelerator: str = "auto",
    out_dir: str = "runs/images",
    anode_filters: int | None = None,
    augment_dims: int | None = None,
    verify_checksums: bool = True,
    data_source: str | None = None,
    torchvision_dataset: str | None = None,
    channels: int | None = None,
    reconstruction_samples: int | None = None,
    reconstruction_ladder: Sequence[float] = TOLERANCE_LADDER,
    reconstruction_threshold: float = RECONSTRUCTION_THRESHOLD,
    channels_last: bool = True,
    backend: str = DEFAULT_BACKEND,
    profile: str | None = None,
    name: str | None = None,
    match_node: bool = False,
) -> Path:
    """:func:`run_benchmark` of the :class:`ImageBenchmarkConfig` of these options.

    Args:
        dataset: one of ``IMAGE_SETUPS``; the other options are
            :class:`ImageBenchmarkConfig`'s, with its defaults (a test pins them).

    Returns:
        The path of the markdown table, ``<out_dir>/<name>/table.md``.
    """
    # The parameters are exactly the configuration's fields.
    return run_benchmark(ImageBenchmarkConfig(**locals()))
