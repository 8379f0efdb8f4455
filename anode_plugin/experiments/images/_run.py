"""One image run: train and test one model of a set-up with one seed, and its figures."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback
from torch import Tensor
from typing_extensions import override

from ...datasets import ImageDataModule
from ...lightning import ANODEModule, NFECallback
from ...lightning._channels_last import ChannelsLast
from ...testing import loosest_passing_tolerance, reconstruction_error, solver_tolerances
from ._conv_model import conv_ode
from ._data import first_test_images
from ._setups import DEFAULT_BACKEND, ImageSetup

__all__ = ["per_epoch", "run_one"]


class _TrainAccuracy(Callback):
    """Training accuracy of every step, read from the module's own forward pass."""

    def __init__(self) -> None:
        self.accuracy: list[float] = []
        self._logits: Tensor | None = None
        self._handle: Any = None

    def _hook(self, module: Any, args: Any, output: Tensor) -> None:
        if module.training:
            self._logits = output.detach()

    @override
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._handle = pl_module.register_forward_hook(self._hook)

    @override
    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._handle is not None:
            self._handle.remove()

    @override
    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, i: int
    ) -> None:
        if self._logits is not None:
            y = batch[1].to(self._logits.device)
            self.accuracy.append(float((self._logits.argmax(1) == y).float().mean()))
            self._logits = None


def per_epoch(steps: Sequence[Any], steps_per_epoch: int) -> dict[str, Any]:
    """Forward and backward NFE per step, averaged over each epoch and over the last."""
    size = max(1, steps_per_epoch)
    out: dict[str, Any] = {}
    for key in ("nfe_forward", "nfe_backward"):
        values = [getattr(s, key) for s in steps]
        epochs = [statistics.fmean(values[i : i + size]) for i in range(0, len(values), size)]
        out[f"{key}_per_epoch"] = epochs
        out[f"{key}_last_epoch"] = epochs[-1] if epochs else math.nan
    return out


def _reconstruction(
    trainer: pl.Trainer,
    model: ANODEModule,
    dm: ImageDataModule,
    *,
    samples: int,
    ladder: tuple[float, ...],
    threshold: float,
    test: dict[str, float],
) -> dict[str, Any]:
    """Round-trip error on the first test images, the loosest passing tolerance of
    ``ladder`` and the test accuracy at it (the replication's figures)."""
    ode = model.ode
    trained = {"trained_atol": float(ode.atol), "trained_rtol": float(ode.rtol)}
    if samples == 0:
        return trained
    device = trainer.strategy.root_device
    model.to(device)
    x = first_test_images(dm, samples).to(device)
    report = reconstruction_error(ode, x)
    loosest = loosest_passing_tolerance(ode, x, ladder=ladder, threshold=threshold)
    if loosest is None:
        acc = nfe = None
    elif loosest == ode.atol == ode.rtol:
        acc, nfe = float(test["test/acc"]), float(test.get("test/nfe/forward", math.nan))
    else:
        with solver_tolerances(ode, atol=loosest, rtol=loosest):
            again = trainer.test(model, datamodule=dm, verbose=False)[0]
        acc, nfe = float(again["test/acc"]), float(again.get("test/nfe/forward", math.nan))
    return {
        **trained,
        "reconstruction_samples": len(x),
        "reconstruction_error": report.max,
        "reconstruction_error_mean": report.mean,
        "loosest_tol": loosest,
        "test_acc_loosest": acc,
        "test_nfe_forward_loosest": nfe,
    }


def run_one(
    setup: ImageSetup,
    model_name: str,
    seed: int,
    *,
    make_datamodule: Callable[..., ImageDataModule],
    data_kwargs: dict[str, Any],
    max_epochs: int,
    max_steps: int,
    accelerator: str,
    reconstruction: dict[str, Any],
    channels_last: bool,
    backend: str = DEFAULT_BACKEND,
    callbacks: Sequence[Callback] = (),
) -> dict[str, Any]:
    """Train and test ``model_name`` of ``setup`` with ``seed``: every figure of the run.

    ``callbacks`` are added to the trainer's own (e.g. the progress lines).

    Returns:
        The run's figures (test accuracy and loss, NFE per step overall and per epoch,
        the reconstruction check's) and its per-step ``history``.
    """
    pl.seed_everything(seed, workers=True, verbose=False)
    dm = make_datamodule(seed=seed, **data_kwargs)
    c, h, w = dm.image_shape
    p = setup.p(model_name)
    ode = conv_ode(c, setup.filters(model_name), augment_dims=p, backend=backend)
    model = ANODEModule(ode, num_outputs=dm.num_classes, feature_dim=(c + p) * h * w, lr=1e-3)
    nfe, acc = NFECallback(prog_bar=False), _TrainAccuracy()
    trainer = pl.Trainer(
        accelerator=accelerator,
        devices=1,
        max_epochs=max_epochs,
        max_steps=max_steps,
        callbacks=[nfe, acc, *([ChannelsLast()] if channels_last else []), *callbacks],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    start = time.perf_counter()
    trainer.fit(model, datamodule=dm)
    train_seconds = time.perf_counter() - start
    test = trainer.test(model, datamodule=dm, verbose=False)[0]
    device = str(trainer.strategy.root_device)  # the module is back on the CPU after a test
    checked = _reconstruction(trainer, model, dm, test=test, **reconstruction)
    steps = list(nfe.history)
    tail = steps[-max(1, min(20, len(steps) // 10 or 1)) :]
    by_epoch = per_epoch(steps, int(trainer.num_training_batches))
    return {
        "model": model_name,
        "seed": seed,
        "filters": setup.filters(model_name),
        "augment_dims": p,
        "parameters": sum(q.numel() for q in model.parameters()),
        "test_acc": float(test["test/acc"]),
        "test_loss": float(test["test/loss"]),
        "test_nfe_forward": float(test.get("test/nfe/forward", math.nan)),
        "final_train_loss": statistics.fmean(s.loss for s in tail),
        "nfe_forward": statistics.fmean(s.nfe_forward for s in steps),
        "nfe_backward": statistics.fmean(s.nfe_backward for s in steps),
        **by_epoch,
        "backend": backend,
        **checked,
        "train_seconds": train_seconds,
        "device": device,
        "history": {
            "loss": [s.loss for s in steps],
            "nfe_forward": [s.nfe_forward for s in steps],
            "nfe_backward": [s.nfe_backward for s in steps],
            "accuracy": acc.accuracy,
        },
    }
