"""Table 1 and Figures 10-12 of the paper: parameter-matched NODE vs ANODE on images.

Each data set has one set-up (:data:`IMAGE_SETUPS`): the ANODE of the paper (or, where
the paper is silent, our choice) and a NODE whose filter count is picked by
:func:`match_num_filters` so both have the same number of parameters.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor
from typing_extensions import override

from ..._atomic import atomic_path, write_text_atomic
from ..._model import BACKENDS
from ..._summary import mean_std
from ..._tf32 import enable_tf32
from ..._validation import check_choice, check_non_negative_int
from ...datasets import (
    IMAGE_SOURCES,
    CIFAR10DataModule,
    DigitsDataModule,
    GenericImageDataModule,
    ImageDataModule,
    MNISTDataModule,
    SVHNDataModule,
    TinyImageNetDataModule,
)
from ...lightning import ANODEModule, NFECallback
from ...lightning._channels_last import ChannelsLast
from ...lightning._quiet import quiet_lightning
from ...testing._reconstruction import (
    _THRESHOLD,
    TOLERANCE_LADDER,
    _check_ladder,
    _check_threshold,
    loosest_passing_tolerance,
    reconstruction_error,
    solver_tolerances,
)
from ._conv_model import conv_ode, count_image_parameters, match_num_filters

__all__ = [
    "IMAGE_SETUPS",
    "MODELS",
    "PROFILES",
    "ImageSetup",
    "run_image_benchmark",
]

MODELS = ("node", "anode")

#: Backend of the image runs: torchdyn, measured faster per training step than
#: torchdiffeq (the reference code's, still available with ``backend='torchdiffeq'``);
#: the figures are in docs/guides/images.md.
DEFAULT_BACKEND = "torchdyn"

#: Named profiles of ``run_image_benchmark(profile=...)``: the data set they run and the
#: defaults they give to the arguments left unset.
PROFILES: dict[str, dict[str, Any]] = {
    "cpu": {
        "dataset": "digits",
        "max_epochs": 12,
        "reconstruction_samples": 0,
        "note": "The image claims on 2 CPU cores in about 10 minutes: the digits pair "
        "(NODE 30 filters, ANODE 23 filters p=5, 9,172 / 9,175 parameters), 12 epochs of "
        "batch 64, seeds 0-2, no reconstruction check.",
    },
}


@dataclass(frozen=True)
class ImageSetup:
    """One data set's parameter-matched NODE/ANODE pair and training schedule.

    Attributes:
        datamodule: the DataModule class.
        augment_dims: the ANODE's ``p``.
        anode_filters: the ANODE's filter count.
        budget: parameter budget both models are matched to.
        include_readout: whether the budget counts the readout.
        batch_size: batch size (the paper's 256, except for digits).
        epochs: epochs of a full run.
        quick_epochs: epochs of a ``--quick`` run.
        quick_train_subset: training images of a ``--quick`` run (``None``: all).
        paper: the paper's Table 1 figures ``{'node': (mean, std), 'anode': ...}``.
        note: where the set-up departs from or completes the paper.
        node_filters: the NODE's filter count as the paper's reference code builds it;
            ``None``: the count whose parameters match ``budget`` best.
    """

    datamodule: type[ImageDataModule]
    augment_dims: int
    anode_filters: int
    budget: int
    include_readout: bool = True
    batch_size: int = 256
    epochs: int = 20
    quick_epochs: int = 1
    quick_train_subset: int | None = None
    paper: dict[str, tuple[float, float]] | None = None
    note: str = ""
    node_filters: int | None = None

    def dims(self) -> dict[str, int]:
        c, h, w = self.datamodule.image_shape
        return {
            "in_channels": c,
            "height": h,
            "width": w,
            "num_classes": self.datamodule.num_classes,
        }

    def filters(self, model: str) -> int:
        """Filter count of ``'node'`` or ``'anode'``."""
        if model == "anode":
            return self.anode_filters
        if self.node_filters is not None:
            return self.node_filters
        return match_num_filters(
            self.budget, augment_dims=0, include_readout=self.include_readout, **self.dims()
        )

    def p(self, model: str) -> int:
        return self.augment_dims if model == "anode" else 0

    def num_parameters(self, model: str) -> int:
        """Parameters of the full model (ODE block and readout)."""
        return count_image_parameters(
            self.filters(model), augment_dims=self.p(model), **self.dims()
        )


def _anode_budget(dm: type[ImageDataModule], p: int, filters: int, readout: bool = True) -> int:
    c, h, w = dm.image_shape
    return count_image_parameters(
        filters,
        in_channels=c,
        augment_dims=p,
        height=h,
        width=w,
        num_classes=dm.num_classes,
        include_readout=readout,
    )


IMAGE_SETUPS: dict[str, ImageSetup] = {
    "digits": ImageSetup(
        DigitsDataModule,
        augment_dims=5,
        anode_filters=23,
        budget=_anode_budget(DigitsDataModule, 5, 23),
        batch_size=64,
        epochs=10,
        quick_epochs=5,
        note="Not in the paper: 23 filters and p=5 chosen so that the NODE (30 filters) "
        "lands within 0.1% of the ANODE's count; batch 64, as 1,437 training images "
        "make only 6 batches of 256.",
    ),
    "mnist": ImageSetup(
        MNISTDataModule,
        augment_dims=5,
        anode_filters=64,
        budget=_anode_budget(MNISTDataModule, 5, 64),
        epochs=20,
        quick_epochs=1,
        paper={"node": (96.4, 0.5), "anode": (98.2, 0.1)},
        note="The paper's pair (reference config): ANODE 64 filters p=5, NODE 92 filters; "
        "85,462 and 85,316 parameters (the paper rounds to 84k).",
        node_filters=92,
    ),
    "cifar10": ImageSetup(
        CIFAR10DataModule,
        augment_dims=10,
        anode_filters=64,
        budget=_anode_budget(CIFAR10DataModule, 10, 64),
        epochs=20,
        quick_epochs=1,
        quick_train_subset=20_000,
        paper={"node": (53.7, 0.2), "anode": (60.6, 0.4)},
        note="The paper's pair (reference config): ANODE 64 filters p=10 (172,452 "
        "parameters, the paper's 172k), NODE 125 filters (173,611); `match_node=True` "
        "gives the NODE of 124 filters (171,352) matched to the ANODE.",
        node_filters=125,
    ),
    "svhn": ImageSetup(
        SVHNDataModule,
        augment_dims=10,
        anode_filters=64,
        budget=_anode_budget(SVHNDataModule, 10, 64),
        epochs=20,
        quick_epochs=1,
        quick_train_subset=20_000,
        paper={"node": (81.0, 0.6), "anode": (83.5, 0.5)},
        note="As CIFAR10: ANODE 64 filters p=10 (172,452), NODE 125 filters (173,611); "
        "`match_node=True` gives the matched NODE of 124 filters (171,352).",
        node_filters=125,
    ),
    "tiny-imagenet": ImageSetup(
        TinyImageNetDataModule,
        augment_dims=10,
        anode_filters=200,
        budget=366_000,
        include_readout=False,
        epochs=10,
        quick_epochs=1,
        quick_train_subset=10_000,
        note="A readout of flattened 64x64 features has >= 2.46M parameters for 200 "
        "classes, so the paper's 366k can only be the ODE block: both ODE blocks are "
        "matched to 366k (NODE 201 filters, ANODE 200 filters p=10); the ANODE's readout "
        "is larger (13 vs 3 channels).",
    ),
}


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


def _first_test_images(dm: ImageDataModule, n: int) -> Tensor:
    """The first ``n`` images of the test set (fewer if it is smaller)."""
    batches, count = [], 0
    for x, _ in dm.test_dataloader():
        batches.append(x)
        count += len(x)
        if count >= n:
            break
    return torch.cat(batches)[:n]


def _per_epoch(steps: Sequence[Any], steps_per_epoch: int) -> dict[str, Any]:
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
    x = _first_test_images(dm, samples).to(device)
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


def _run_one(
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
) -> dict[str, Any]:
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
        callbacks=[nfe, acc, *([ChannelsLast()] if channels_last else [])],
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
    per_epoch = _per_epoch(steps, int(trainer.num_training_batches))
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
        **per_epoch,
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


def _reconstruction_line(run: dict[str, Any]) -> str:
    if "reconstruction_error" not in run:
        return ""
    tol = run["loosest_tol"]
    at = (
        "none passes" if tol is None else f"{tol:g} (test acc {100 * run['test_acc_loosest']:.2f}%)"
    )
    return (
        f"; round-trip error {run['reconstruction_error']:.2g} at tol "
        f"{run['trained_atol']:g}, loosest passing tol: {at}"
    )


def _reconstruction_cells(runs: list[dict[str, Any]]) -> str:
    """Round-trip error, loosest passing tolerance(s) and accuracy there, as table cells."""
    checked = [r for r in runs if "reconstruction_error" in r]
    if not checked:
        return "- | - | -"
    error, error_sd = mean_std([r["reconstruction_error"] for r in checked])
    tols = [r["loosest_tol"] for r in checked]
    counts = {t: tols.count(t) for t in dict.fromkeys(tols)}
    tol_cell = ", ".join(
        f"{'none' if t is None else f'{t:g}'}" + (f" ({n}/{len(tols)})" if len(counts) > 1 else "")
        for t, n in counts.items()
    )
    passing = [100 * r["test_acc_loosest"] for r in checked if r["test_acc_loosest"] is not None]
    acc_cell = "-"
    if passing:
        acc, acc_sd = mean_std(passing)
        acc_cell = f"{acc:.1f} ± {acc_sd:.1f}"
    return f"{error:.2g} ± {error_sd:.1g} | {tol_cell} | {acc_cell}"


def _table(
    dataset: str,
    setup: ImageSetup,
    runs: list[dict[str, Any]],
    reconstruction: dict[str, Any] | None = None,
) -> str:
    header = (
        "| Data set | Model | Filters | p | Parameters | Test accuracy (%) | Paper (%) "
        "| Final train loss | NFE forward | NFE backward | Round-trip error "
        "| Loosest passing tol | Test accuracy there (%) | Runs |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for model in MODELS:
        mine = [r for r in runs if r["model"] == model]
        if not mine:
            continue
        acc, acc_sd = mean_std([100 * r["test_acc"] for r in mine])
        loss, loss_sd = mean_std([r["final_train_loss"] for r in mine])
        fwd, fwd_sd = mean_std([r["nfe_forward"] for r in mine])
        bwd, bwd_sd = mean_std([r["nfe_backward"] for r in mine])
        paper = setup.paper.get(model) if setup.paper else None
        paper_cell = f"{paper[0]:.1f} ± {paper[1]:.1f}" if paper else "-"
        rows.append(
            f"| {dataset} | {model.upper()} | {mine[0]['filters']} | {mine[0]['augment_dims']} "
            f"| {mine[0]['parameters']:,} | {acc:.1f} ± {acc_sd:.1f} | {paper_cell} "
            f"| {loss:.3f} ± {loss_sd:.3f} | {fwd:.1f} ± {fwd_sd:.1f} | {bwd:.1f} ± {bwd_sd:.1f} "
            f"| {_reconstruction_cells(mine)} | {len(mine)} |"
        )
    note = ""
    if reconstruction is not None and reconstruction["samples"]:
        ladder = ", ".join(f"{t:g}" for t in reconstruction["ladder"])
        note = (
            f"\nRound-trip error: the largest relative error ||inverse(features(x)) - x|| / "
            f"||x|| over the first {reconstruction['samples']} test images, at the trained "
            f"tolerance (mean ± std over runs). Loosest passing tol: the loosest of {ladder} "
            f"(atol = rtol) at which every one of them is below "
            f"{reconstruction['threshold']:g}; the test set is evaluated again there.\n"
        )
    return header + "\n".join(rows) + "\n" + note


def _verdict(margins: list[float]) -> str:
    """Whether ANODE beats NODE by ``margins`` (per seed, positive when ANODE is better).

    It holds when the mean margin is positive and beyond the seeds' spread (the standard
    deviation of the margins; 0 with one seed): a tie, or a mean inside the spread, does
    not hold.
    """
    mean = statistics.fmean(margins)
    spread = statistics.stdev(margins) if len(margins) > 1 else 0.0
    if mean <= 0:
        return "**Does not hold**"
    if mean <= spread:
        return f"**Does not hold** (within the seeds' spread: margin {mean:.2f} <= {spread:.2f})"
    if not all(m > 0 for m in margins):
        return "**Holds on the mean, not in every seed**"
    return "**Holds**"


def _claims(runs: list[dict[str, Any]]) -> list[str]:
    """The paper's image claims, each checked on the seeds that ran both models."""
    by_seed = {(r["model"], r["seed"]): r for r in runs}
    seeds = [s for s in dict.fromkeys(r["seed"] for r in runs) if ("node", s) in by_seed]
    seeds = [s for s in seeds if ("anode", s) in by_seed]
    if not seeds:
        return ["No seed ran both models: nothing to compare."]
    checks = [
        ("nfe_forward", "ANODE uses fewer forward NFE per training step than NODE", 1, "<"),
        (
            "nfe_forward_last_epoch",
            "ANODE uses fewer forward NFE per training step than NODE in the last epoch",
            1,
            "<",
        ),
        ("nfe_backward", "ANODE uses fewer backward NFE per training step than NODE", 1, "<"),
        ("test_acc", "ANODE's test accuracy is higher than NODE's", 100, ">"),
    ]
    lines = []
    for key, claim, scale, op in checks:
        anode = [scale * by_seed["anode", s][key] for s in seeds]
        node = [scale * by_seed["node", s][key] for s in seeds]
        margins = [(n - a) if op == "<" else (a - n) for a, n in zip(anode, node, strict=True)]
        wins = sum(m > 0 for m in margins)
        lines.append(
            f"- {_verdict(margins)}: {claim}. ANODE "
            f"{statistics.fmean(anode):.2f} vs NODE {statistics.fmean(node):.2f} (mean over "
            f"{len(seeds)} seed(s)); ANODE {op} NODE in {wins}/{len(seeds)} seed(s) "
            f"({', '.join(f'{a:.2f} vs {n:.2f}' for a, n in zip(anode, node, strict=True))})."
        )
    return lines


def _claims_report(
    dataset: str, setup: ImageSetup, runs: list[dict[str, Any]], settings: dict[str, Any]
) -> str:
    """Markdown: Table 1's row pair, the per-seed figures, NFE by epoch and the claims."""
    seeds = list(dict.fromkeys(r["seed"] for r in runs))
    epochs = max(len(r["nfe_forward_per_epoch"]) for r in runs)
    lines = [
        f"# Image claims: {dataset}, {len(seeds)} seed(s), {epochs} epoch(s), "
        f"backend {settings.get('backend', DEFAULT_BACKEND)}",
        "",
        _table(dataset, setup, runs),
        "## Per seed",
        "",
        "| Seed | Model | Parameters | Test accuracy (%) | NFE forward | NFE forward, last "
        "epoch | NFE backward | NFE backward, last epoch | Training time (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r['seed']} | {r['model'].upper()} | {r['parameters']:,} "
            f"| {100 * r['test_acc']:.2f} | {r['nfe_forward']:.2f} "
            f"| {r['nfe_forward_last_epoch']:.2f} | {r['nfe_backward']:.2f} "
            f"| {r['nfe_backward_last_epoch']:.2f} | {r['train_seconds']:.0f} |"
        )
    models = [m for m in MODELS if any(r["model"] == m for r in runs)]
    lines += [
        "",
        "## Forward / backward NFE per step, by epoch (mean over seeds)",
        "",
        "| Epoch | " + " | ".join(m.upper() for m in models) + " |",
        "|---" * (len(models) + 1) + "|",
    ]
    for e in range(epochs):
        cells = []
        for m in models:
            mine = [r for r in runs if r["model"] == m and e < len(r["nfe_forward_per_epoch"])]
            fwd = statistics.fmean(r["nfe_forward_per_epoch"][e] for r in mine)
            bwd = statistics.fmean(r["nfe_backward_per_epoch"][e] for r in mine)
            cells.append(f"{fwd:.1f} / {bwd:.1f}")
        lines.append(f"| {e + 1} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## The paper's claims, checked on these runs",
        "",
        "At matched parameter counts the paper finds that the ANODE needs fewer NFE and "
        "reaches a higher accuracy than the NODE (section 5.2, Table 1). A claim holds "
        "when ANODE's mean margin over NODE is positive and beyond the seeds' spread (the "
        "standard deviation of the per-seed margins): a tie does not hold. How many seeds "
        "agree is stated.",
        "",
        *_claims(runs),
        "",
    ]
    return "\n".join(lines)


def _figures(dataset: str, runs: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"node": "tab:blue", "anode": "tab:orange"}
    fig, axes = plt.subplots(1, 4, figsize=(18, 4))
    for run in runs:
        hist, colour = run["history"], colours[run["model"]]
        label = f"{run['model'].upper()} (p={run['augment_dims']})"
        steps = range(1, len(hist["loss"]) + 1)
        kw = {"color": colour, "alpha": 0.7, "linewidth": 1}
        axes[0].plot(steps, hist["loss"], label=label, **kw)
        axes[1].plot(steps, hist["nfe_forward"], label=label, **kw)
        axes[2].scatter(hist["nfe_forward"], hist["loss"], s=4, color=colour, alpha=0.5)
        n = min(len(hist["accuracy"]), len(hist["nfe_forward"]))
        axes[3].scatter(hist["nfe_forward"][:n], hist["accuracy"][:n], s=4, color=colour, alpha=0.5)
    titles = [
        ("Training loss", "iteration", "loss"),
        ("NFEs (forward)", "iteration", "NFE"),
        ("NFEs vs loss", "NFE", "loss"),
        ("Training accuracy vs NFEs", "NFE", "accuracy"),
    ]
    for ax, (title, xlabel, ylabel) in zip(axes, titles, strict=True):
        ax.set(title=f"{dataset}: {title}", xlabel=xlabel, ylabel=ylabel)
    handles, labels = axes[0].get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    axes[0].legend(unique.values(), unique.keys())
    fig.tight_layout()
    with atomic_path(path) as partial:
        fig.savefig(partial, dpi=120)
    plt.close(fig)


def _datamodule_factory(
    setup: ImageSetup, data_source: str | None, torchvision_dataset: str | None
) -> Callable[..., ImageDataModule]:
    """The set-up's own DataModule, or a GenericImageDataModule reading ``data_source``."""
    if data_source is None:
        if torchvision_dataset is not None:
            raise ValueError(
                "`torchvision_dataset` needs data_source='torchvision'; got "
                f"torchvision_dataset={torchvision_dataset!r} with data_source=None."
            )
        return setup.datamodule
    sources = [s for s in IMAGE_SOURCES if s != "tensors"]
    if data_source not in sources:
        raise ValueError(f"`data_source` must be None or one of {sources}, got {data_source!r}.")

    def make(**kwargs: Any) -> ImageDataModule:
        return GenericImageDataModule(source=data_source, dataset=torchvision_dataset, **kwargs)

    return make


def resolve_setup(
    dataset: str,
    *,
    match_node: bool = False,
    anode_filters: int | None = None,
    augment_dims: int | None = None,
) -> ImageSetup:
    """``IMAGE_SETUPS[dataset]`` with ``run_image_benchmark``'s changes to its models: the
    matched NODE (``match_node``), or another ANODE, to which the NODE is matched again."""
    setup = IMAGE_SETUPS[dataset]
    if match_node:
        setup = replace(setup, node_filters=None)
    if anode_filters is not None or augment_dims is not None:
        p = setup.augment_dims if augment_dims is None else augment_dims
        filters = setup.anode_filters if anode_filters is None else anode_filters
        budget = setup.budget
        if setup.include_readout or filters != setup.anode_filters:
            budget = _anode_budget(setup.datamodule, p, filters, setup.include_readout)
        # Another ANODE: the NODE is matched to it again, not the paper's.
        setup = replace(
            setup, augment_dims=p, anode_filters=filters, budget=budget, node_filters=None
        )
    return setup


def _data_name(
    dataset: str,
    name: str | None,
    data_source: str | None,
    torchvision_dataset: str | None,
    data_dir: str,
) -> str:
    """What the data of a run is called (see ``run_image_benchmark``'s ``name``)."""
    if name is not None:
        if not isinstance(name, str) or not name.strip() or any(c in name for c in "/\\"):
            raise ValueError(
                f"`name` must be a non-empty name without path separators, got {name!r}."
            )
        if data_source is not None and name in IMAGE_SETUPS:
            raise ValueError(
                f"`name`={name!r} is a data set of the paper; one's own data "
                f"(data_source={data_source!r}) needs a name of its own."
            )
        return name
    if data_source is None:
        return dataset
    own = torchvision_dataset or Path(data_dir).resolve().name or data_source
    own = own.lower()
    # A folder named like a paper data set (data/mnist with other IDX files in it):
    # say whose models it ran with, so that it is not read as the paper's data.
    return f"{own}-own" if own in IMAGE_SETUPS else own


def _check_own_data(setup: ImageSetup, dataset: str, dm: ImageDataModule) -> None:
    """Refuse, before any training, data the set-up's models cannot take."""
    expected = (setup.datamodule.image_shape, setup.datamodule.num_classes)
    if (dm.image_shape, dm.num_classes) != expected:
        raise ValueError(
            f"--dataset {dataset} trains models for {expected[1]} classes of images "
            f"{list(expected[0])}, but {dm.name} in {dm.data_dir} has {dm.num_classes} "
            f"classes of images {list(dm.image_shape)}: pick the set-up (`dataset`) that "
            "matches the data."
        )


def run_image_benchmark(
    dataset: str = "digits",
    *,
    seeds: Sequence[int] = (0, 1, 2),
    models: Sequence[str] = MODELS,
    quick: bool = False,
    max_epochs: int | None = None,
    max_steps: int = -1,
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
    reconstruction_samples: int | None = None,
    reconstruction_ladder: Sequence[float] = TOLERANCE_LADDER,
    reconstruction_threshold: float = _THRESHOLD,
    channels_last: bool = True,
    backend: str = DEFAULT_BACKEND,
    profile: str | None = None,
    name: str | None = None,
    match_node: bool = False,
) -> Path:
    """Train the parameter-matched NODE and ANODE over seeds; write Table 1 and figures.

    Writes ``<out_dir>/<name>/table.md`` (test accuracy mean ± std, beside the
    paper's for the paper's data sets; final training loss, mean forward and backward
    NFE per step, and the reconstruction check: the round trip's relative error at the
    trained tolerance, the loosest tolerance of ``reconstruction_ladder`` at which it
    passes and the test accuracy at that tolerance, as the ReScience replication
    reports),
    ``runs.json`` (every figure and per-step history), ``figures.png`` (training
    loss and NFE over iterations, NFE vs loss, training accuracy vs NFE: the panels
    of Figures 10-12) and, when both models ran, ``claims.md`` (per-seed figures, NFE
    by epoch and the paper's claims checked on these runs, each said to hold or not).

    Args:
        dataset: one of ``IMAGE_SETUPS`` (``digits``, ``mnist``, ``cifar10``, ``svhn``,
            ``tiny-imagenet``).
        seeds: one run per seed and model.
        models: ``'node'``, ``'anode'`` or both.
        quick: the short profile: the set-up's ``quick_epochs`` on its
            ``quick_train_subset`` (about five minutes for MNIST on one modern GPU,
            an estimate).
        max_epochs: epochs; ``None`` for the set-up's (or its quick) epochs.
        max_steps: stop after this many optimiser steps (-1: no limit).
        data_dir: folder of the data files.
        download: download missing data files.
        batch_size: batch size; ``None`` for the set-up's (the paper's 256; 64 for digits).
        train_subset: training images to use (``None``: the profile's).
        test_subset: test images to use (``None``: all).
        num_workers: DataLoader workers.
        accelerator: Lightning accelerator; ``'auto'`` takes CUDA when present.
        out_dir: output folder.
        anode_filters: replace the set-up's ANODE filter count (the NODE is matched
            again to the new ANODE's parameter count), e.g. for a smaller CPU run.
        augment_dims: replace the set-up's ANODE ``p`` (the NODE is matched again).
        verify_checksums: check the data files' MD5s before reading them; ``False`` to
            read files that are valid but not the published ones (e.g. one's own data in
            MNIST's format).
        data_source: ``None`` reads ``dataset``'s own files; ``'idx'``,
            ``'image_folder'`` or ``'torchvision'`` reads ``data_dir`` with
            :class:`GenericImageDataModule` instead (one's own data), trained with
            ``dataset``'s set-up, whose image shape and class count it must have.
        torchvision_dataset: with ``data_source='torchvision'``, the torchvision class
            name (e.g. ``'FashionMNIST'`` with ``dataset='mnist'``).
        reconstruction_samples: after each run, check the round trip
            ``inverse(features(x))`` on this many first test images; 0 skips the check;
            ``None``: 256 (0 under ``profile='cpu'``).
        reconstruction_ladder: solver tolerances tried (loosest first) for the loosest
            passing one, at which the test set is evaluated again.
        reconstruction_threshold: largest relative error ``||x_rec - x|| / ||x||`` per
            image that passes.
        channels_last: on CUDA, run the convolutions in channels-last memory format
            (NHWC, native to tensor cores); no effect on the CPU, where the vector field
            already converts.
        backend: a name from ``BACKENDS``: ``'torchdyn'`` (default: faster per training
            step, measured), ``'torchdiffeq'`` (the reference code's), ...
        profile: ``'cpu'``: the image claims on a CPU in about 10 minutes (digits, 12
            epochs, seeds 0-2, no reconstruction check; see ``PROFILES``); arguments
            given explicitly still win, except ``dataset``, which must be the profile's.
        match_node: give the NODE the filter count whose parameters match the ANODE's
            best, instead of the paper's (CIFAR10 and SVHN: 124 filters, 171,352
            parameters, instead of 125, 173,611; the same 92 for MNIST).
        name: what the data is called in the tables, the figures, the printed lines and
            the output folder. ``None``: ``dataset`` for its own files; with
            ``data_source`` (one's own data), the torchvision class's name or the data
            folder's, never the set-up's (a run on other data must not overwrite, or be
            read as, a run on the paper's). The paper's figures are shown beside the
            paper's data sets only.

    Returns:
        The path of the markdown table.
    """
    if profile is not None:
        if profile not in PROFILES:
            raise ValueError(f"`profile` must be None or one of {list(PROFILES)}, got {profile!r}.")
        chosen = PROFILES[profile]
        if dataset != chosen["dataset"]:
            raise ValueError(
                f"profile={profile!r} runs dataset={chosen['dataset']!r}; got "
                f"dataset={dataset!r}: drop one of the two."
            )
        max_epochs = max_epochs or chosen["max_epochs"]
        if reconstruction_samples is None:
            reconstruction_samples = chosen["reconstruction_samples"]
    if reconstruction_samples is None:
        reconstruction_samples = 256
    check_choice("backend", backend, BACKENDS)
    if dataset not in IMAGE_SETUPS:
        raise ValueError(f"`dataset` must be one of {list(IMAGE_SETUPS)}, got {dataset!r}.")
    bad = [m for m in models if m not in MODELS]
    if bad or not models:
        raise ValueError(f"`models` must be a non-empty list from {list(MODELS)}, got {models!r}.")
    if not seeds:
        raise ValueError("`seeds` must name at least one seed.")
    reconstruction = {
        "samples": check_non_negative_int("reconstruction_samples", reconstruction_samples),
        "ladder": _check_ladder(reconstruction_ladder, "reconstruction_ladder"),
        "threshold": _check_threshold(reconstruction_threshold, "reconstruction_threshold"),
    }
    setup = resolve_setup(
        dataset, match_node=match_node, anode_filters=anode_filters, augment_dims=augment_dims
    )
    make_datamodule = _datamodule_factory(setup, data_source, torchvision_dataset)
    label = _data_name(dataset, name, data_source, torchvision_dataset, data_dir)
    if data_source is not None:
        setup = replace(setup, paper=None)  # the paper's figures are of the paper's data
    if torch.cuda.is_available():
        enable_tf32()
    epochs = max_epochs or (setup.quick_epochs if quick else setup.epochs)
    if train_subset is None and quick:
        train_subset = setup.quick_train_subset
    data_kwargs = {
        "data_dir": data_dir,
        "download": download,
        "batch_size": batch_size or setup.batch_size,
        "train_subset": train_subset,
        "test_subset": test_subset,
        "num_workers": num_workers,
        "verify_checksums": verify_checksums,
    }
    if data_source is not None:
        _check_own_data(setup, dataset, make_datamodule(**data_kwargs))
    folder = Path(out_dir) / label
    folder.mkdir(parents=True, exist_ok=True)
    runs = []
    with quiet_lightning(".*Total length of .* across ranks is zero.*"):
        for seed in seeds:
            for model in models:
                run = _run_one(
                    setup,
                    model,
                    seed,
                    make_datamodule=make_datamodule,
                    data_kwargs=data_kwargs,
                    max_epochs=epochs,
                    max_steps=max_steps,
                    accelerator=accelerator,
                    reconstruction=reconstruction,
                    channels_last=channels_last,
                    backend=backend,
                )
                runs.append(run)
                print(
                    f"[{label}] {model.upper()} seed={seed}: "
                    f"test acc {100 * run['test_acc']:.2f}% "
                    f"NFE fwd {run['nfe_forward']:.1f} bwd {run['nfe_backward']:.1f} "
                    f"({run['train_seconds']:.0f} s on {run['device']})"
                    f"{_reconstruction_line(run)}",
                    flush=True,
                )
    settings = {
        "dataset": dataset,
        "name": label,
        "epochs": epochs,
        "max_steps": max_steps,
        "quick": quick,
        "data_source": data_source,
        "torchvision_dataset": torchvision_dataset,
        "channels_last": channels_last,
        "backend": backend,
        "profile": profile,
        "reconstruction": {**reconstruction, "ladder": list(reconstruction["ladder"])},
        **{k: v for k, v in data_kwargs.items() if k != "download"},
        "setup": {k: v for k, v in asdict(setup).items() if k != "datamodule"},
    }
    runs_json = json.dumps({"settings": settings, "runs": runs}, indent=1)
    write_text_atomic(folder / "runs.json", runs_json)
    table = folder / "table.md"
    write_text_atomic(table, _table(label, setup, runs, reconstruction))
    _figures(label, runs, folder / "figures.png")
    if {r["model"] for r in runs} == set(MODELS):
        write_text_atomic(folder / "claims.md", _claims_report(label, setup, runs, settings))
    return table
