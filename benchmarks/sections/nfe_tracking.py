"""Cost of ``NFECallback``: time inside its hooks and end-to-end fit time."""

from __future__ import annotations

import logging
import time

import torch

from anode_plugin import AugmentedNeuralODE, MLPVectorField
from anode_plugin.lightning._quiet import quiet_lightning

from ._data import spheres
from ._profiles import Profile
from ._row import Row
from ._timing import median_ratio


def bench_nfe_tracking(p: Profile) -> list[Row]:
    import lightning.pytorch as pl
    from torch.utils.data import DataLoader, TensorDataset

    from anode_plugin.lightning import ANODEModule, NFECallback

    x, y = spheres(1024)
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
            AugmentedNeuralODE(MLPVectorField(3, 32), augment_dims=1), num_outputs=2, feature_dim=3
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

    # Every Trainer prints banners and warns about data loaders: noise for these fits.
    with quiet_lightning(".*", level=logging.ERROR):
        fit(True)
        fit(False)  # warm-up
        hook_time[0] = 0.0
        ratio, with_cb, without = median_ratio(lambda: fit(True), lambda: fit(False), p.repeats)
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
