"""The image set-ups: each data set's parameter-matched NODE/ANODE pair and schedule.

Each data set has one set-up (:data:`IMAGE_SETUPS`): the ANODE of the paper (or, where
the paper is silent, our choice) and a NODE whose filter count is picked by
:func:`match_num_filters` so both have the same number of parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ...datasets import (
    CIFAR10DataModule,
    DigitsDataModule,
    ImageDataModule,
    MNISTDataModule,
    SVHNDataModule,
    TinyImageNetDataModule,
)
from ._conv_model import count_image_parameters, match_num_filters

__all__ = [
    "DEFAULT_BACKEND",
    "IMAGE_SETUPS",
    "MODELS",
    "PROFILES",
    "ImageSetup",
    "anode_budget",
    "resolve_setup",
]

MODELS = ("node", "anode")

#: Backend of the image runs: the package's own, measured faster per training step than
#: torchdyn and torchdiffeq (the reference code's, still available with
#: ``backend='torchdiffeq'``); the figures are in docs/guides/performance.md.
DEFAULT_BACKEND = "native"

#: Named profiles of ``run_image_benchmark(profile=...)``: the data set they run and the
#: defaults they give to the arguments left unset.
PROFILES: dict[str, dict[str, Any]] = {
    "cpu": {
        "dataset": "digits",
        "max_epochs": 12,
        "reconstruction_samples": 0,
        "note": "The image claims on 2 CPU cores in about 2 minutes: the digits pair "
        "(NODE 30 filters, ANODE 23 filters p=5, 9,172 / 9,175 parameters), 12 epochs of "
        "batch 64, seeds 0-2, no reconstruction check.",
    },
    "mnist-cpu": {
        "dataset": "mnist",
        "seeds": (0, 1),
        "max_epochs": 1,
        "max_steps": 600,
        "batch_size": 32,
        "reconstruction_samples": 32,
        "note": "The paper's MNIST pair (NODE 92 filters, ANODE 64 filters p=5; 85,316 / "
        "85,462 parameters) on the full MNIST, on 2 CPU cores in about 45 minutes: 600 steps "
        "of batch 32 (a third of an epoch) per run, seeds 0 and 1, tested on all 10,000 "
        "test images, the reconstruction check on 32 of them. The paper's runs trained "
        "for many epochs on a GPU: its accuracies are shown beside, not matched.",
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
        """The data set's image shape and class count, as conv-model keywords."""
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
        """Augmented channels of ``'node'`` (0) or ``'anode'``."""
        return self.augment_dims if model == "anode" else 0

    def num_parameters(self, model: str) -> int:
        """Parameters of the full model (ODE block and readout)."""
        return count_image_parameters(
            self.filters(model), augment_dims=self.p(model), **self.dims()
        )


def anode_budget(dm: type[ImageDataModule], p: int, filters: int, readout: bool = True) -> int:
    """Parameters of the ANODE with ``filters`` and ``p`` on ``dm``'s images."""
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
        budget=anode_budget(DigitsDataModule, 5, 23),
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
        budget=anode_budget(MNISTDataModule, 5, 64),
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
        budget=anode_budget(CIFAR10DataModule, 10, 64),
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
        budget=anode_budget(SVHNDataModule, 10, 64),
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


def resolve_setup(
    dataset: str,
    *,
    match_node: bool = False,
    anode_filters: int | None = None,
    augment_dims: int | None = None,
) -> ImageSetup:
    """``IMAGE_SETUPS[dataset]`` with the benchmark's changes to its models: the
    matched NODE (``match_node``), or another ANODE, to which the NODE is matched again."""
    setup = IMAGE_SETUPS[dataset]
    if match_node:
        setup = replace(setup, node_filters=None)
    if anode_filters is not None or augment_dims is not None:
        p = setup.augment_dims if augment_dims is None else augment_dims
        filters = setup.anode_filters if anode_filters is None else anode_filters
        budget = setup.budget
        if setup.include_readout or filters != setup.anode_filters:
            budget = anode_budget(setup.datamodule, p, filters, setup.include_readout)
        # Another ANODE: the NODE is matched to it again, not the paper's.
        setup = replace(
            setup, augment_dims=p, anode_filters=filters, budget=budget, node_filters=None
        )
    return setup
