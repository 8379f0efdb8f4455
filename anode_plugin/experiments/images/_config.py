"""The typed options of the image benchmark; ``anode-images`` is built from them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..._model import BACKENDS
from ..._reconstruction_tolerances import (
    RECONSTRUCTION_THRESHOLD,
    TOLERANCE_LADDER,
    check_ladder,
    check_threshold,
)
from ..._validation import check_choice, check_non_negative_int, check_positive_int
from ...datasets._image_sources import check_image_channels
from ._setups import DEFAULT_BACKEND, IMAGE_SETUPS, MODELS, PROFILES, ImageSetup, resolve_setup

__all__ = ["ImageBenchmarkConfig"]

# `reconstruction_samples=None` without a profile.
_RECONSTRUCTION_SAMPLES = 256


@dataclass(frozen=True)
class ImageBenchmarkConfig:
    """What :func:`run_image_benchmark` runs: the set-up, the runs, the data, the checks.

    Writes ``<out_dir>/<name>/``: ``table.md`` (Table 1: test accuracy beside the
    paper's, final training loss, NFE per step and the reconstruction check),
    ``runs.json`` (every figure and per-step history), ``figures.png`` (Figures 10-12)
    and, when both models ran, ``claims.md`` (the paper's claims checked on these runs).

    Args:
        dataset: one of ``IMAGE_SETUPS`` (``digits``, ``mnist``, ``cifar10``, ``svhn``,
            ``tiny-imagenet``); ``None``: the profile's, else ``'digits'``.
        seeds: one run per seed and model; ``None``: the profile's, else ``(0, 1, 2)``.
        models: ``'node'``, ``'anode'`` or both.
        quick: the short profile: the set-up's ``quick_epochs`` on its
            ``quick_train_subset``.
        max_epochs: epochs; ``None`` for the set-up's (or its quick) epochs.
        max_steps: stop after this many optimiser steps (-1: no limit); ``None``: the
            profile's, else no limit.
        data_dir: folder of the data files.
        download: download missing data files.
        batch_size: batch size; ``None`` for the profile's, else the set-up's (the paper's
            256; 64 for digits).
        train_subset: training images to use (``None``: the profile's).
        test_subset: test images to use (``None``: all).
        num_workers: DataLoader workers.
        accelerator: Lightning accelerator; ``'auto'`` takes CUDA when present.
        out_dir: output folder.
        anode_filters: replace the set-up's ANODE filter count (the NODE is matched
            again to the new ANODE's parameter count), e.g. for a smaller CPU run.
        augment_dims: replace the set-up's ANODE ``p`` (the NODE is matched again).
        verify_checksums: check the data files' MD5s before reading them; ``False`` to
            read valid files that are not the published ones (one's own data).
        data_source: ``None`` reads ``dataset``'s own files; ``'idx'``,
            ``'image_folder'`` or ``'torchvision'`` reads ``data_dir`` with
            ``GenericImageDataModule`` instead (one's own data), trained with
            ``dataset``'s set-up, whose image shape and class count it must have.
        torchvision_dataset: with ``data_source='torchvision'``, the torchvision class
            name (e.g. ``'FashionMNIST'`` with ``dataset='mnist'``).
        channels: with ``data_source='image_folder'``, read every image as grayscale
            (``1``, e.g. MNIST-like PNGs for ``dataset='mnist'``) or RGB (``3``);
            ``None``: RGB, as torchvision's ``ImageFolder`` reads them.
        reconstruction_samples: after each run, check the round trip
            ``inverse(features(x))`` on this many first test images; 0 skips the check;
            ``None``: 256 (0 under ``profile='cpu'``).
        reconstruction_ladder: solver tolerances tried (loosest first) for the loosest
            passing one, at which the test set is evaluated again.
        reconstruction_threshold: largest relative error ``||x_rec - x|| / ||x||`` per
            image that passes.
        channels_last: on CUDA, run the convolutions in channels-last memory format
            (NHWC, native to tensor cores); no effect on the CPU.
        backend: a name from ``BACKENDS``: ``'native'`` (the fastest per training step,
            measured), ``'torchdiffeq'`` (the reference code's), ...
        profile: ``'cpu'``: the image claims on the 8x8 digits on a CPU in about 2
            minutes; ``'mnist-cpu'``: the paper's MNIST pair on the full MNIST, a short
            run in about 45 minutes on 2 CPU cores (see ``PROFILES``). Options given
            explicitly still win, except ``dataset``, which must be the profile's.
        name: what the data is called in the tables, figures, printed lines and output
            folder. ``None``: ``dataset`` for its own files; with ``data_source``, the
            torchvision class's or the data folder's name, never a set-up's.
        match_node: give the NODE the filter count whose parameters match the ANODE's
            best, instead of the paper's (CIFAR10 and SVHN: 124 filters instead of 125).
    """

    # The set-up and the runs
    dataset: str | None = None
    seeds: Sequence[int] | None = None
    models: Sequence[str] = MODELS
    quick: bool = False
    max_epochs: int | None = None
    max_steps: int | None = None
    # The data
    data_dir: str = "data"
    download: bool = False
    batch_size: int | None = None
    train_subset: int | None = None
    test_subset: int | None = None
    num_workers: int = 0
    accelerator: str = "auto"
    out_dir: str = "runs/images"
    # Another ANODE than the set-up's
    anode_filters: int | None = None
    augment_dims: int | None = None
    # One's own data
    verify_checksums: bool = True
    data_source: str | None = None
    torchvision_dataset: str | None = None
    channels: int | None = None
    # The reconstruction check
    reconstruction_samples: int | None = None
    reconstruction_ladder: Sequence[float] = TOLERANCE_LADDER
    reconstruction_threshold: float = RECONSTRUCTION_THRESHOLD
    # How it runs
    channels_last: bool = True
    backend: str = DEFAULT_BACKEND
    profile: str | None = None
    name: str | None = None
    match_node: bool = False

    def __post_init__(self) -> None:
        if self.profile is not None:
            if self.profile not in PROFILES:
                raise ValueError(
                    f"`profile` must be None or one of {list(PROFILES)}, got {self.profile!r}."
                )
            chosen = PROFILES[self.profile]["dataset"]
            if self.dataset not in (None, chosen):
                raise ValueError(
                    f"profile={self.profile!r} runs dataset={chosen!r}; got "
                    f"dataset={self.dataset!r}: drop one of the two."
                )
        # What was left unset: the profile's, else the defaults (frozen: set once, here).
        if self.max_steps is None and self.max_epochs is not None:
            object.__setattr__(self, "max_steps", -1)  # epochs given: the profile's steps go
        for name, default in (("dataset", "digits"), ("seeds", (0, 1, 2)), ("max_steps", -1)):
            if getattr(self, name) is None:
                chosen = self._profile(name)
                object.__setattr__(self, name, default if chosen is None else chosen)
        check_choice("backend", self.backend, BACKENDS)
        if self.dataset not in IMAGE_SETUPS:
            raise ValueError(
                f"`dataset` must be one of {list(IMAGE_SETUPS)}, got {self.dataset!r}."
            )
        bad = [m for m in self.models if m not in MODELS]
        if bad or not self.models:
            raise ValueError(
                f"`models` must be a non-empty list from {list(MODELS)}, got {self.models!r}."
            )
        if not self.seeds:
            raise ValueError("`seeds` must name at least one seed.")
        if len(set(self.seeds)) != len(self.seeds):
            # The same seed twice trains the same run twice: a spread of 0, two "runs".
            raise ValueError(f"`seeds` must be distinct, got {list(self.seeds)}.")
        # 0 used to mean the default and -1 epochs trained until killed: refused.
        for name in ("max_epochs", "batch_size", "train_subset", "test_subset"):
            value = getattr(self, name)
            if value is not None:
                check_positive_int(name, value)
        steps = self.max_steps
        if steps != -1 and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
            raise ValueError(
                f"`max_steps` must be a positive integer, or -1 for no limit, got {steps!r}."
            )
        # The models and the data modules would name their own arguments (`num_filters`,
        # `dataset`), not these options.
        if self.anode_filters is not None:
            check_positive_int("anode_filters", self.anode_filters)
        if self.augment_dims is not None:
            check_positive_int("augment_dims", self.augment_dims)
        if self.data_source == "torchvision" and not self.torchvision_dataset:
            raise ValueError(
                "`torchvision_dataset` must name a torchvision data set class with "
                "data_source='torchvision' (e.g. 'FashionMNIST'), got None."
            )
        if self.torchvision_dataset is not None and self.data_source != "torchvision":
            raise ValueError(
                "`torchvision_dataset` needs data_source='torchvision'; got torchvision_"
                f"dataset={self.torchvision_dataset!r} with data_source={self.data_source!r}."
            )
        check_image_channels("channels", self.channels)
        if self.channels is not None and self.data_source != "image_folder":
            # The set-ups' own data sets and IDX files have their fixed channels.
            raise ValueError(
                "`channels` applies to data_source='image_folder' only; got "
                f"channels={self.channels!r} with data_source={self.data_source!r}."
            )
        _ = self.reconstruction  # validates the check's three options

    def _profile(self, key: str) -> Any:
        return None if self.profile is None else PROFILES[self.profile].get(key)

    @property
    def reconstruction(self) -> dict[str, Any]:
        """The reconstruction check: ``samples``, ``ladder`` and ``threshold``, validated."""
        samples = self.reconstruction_samples
        if samples is None:
            samples = self._profile("reconstruction_samples")
        return {
            "samples": check_non_negative_int(
                "reconstruction_samples", _RECONSTRUCTION_SAMPLES if samples is None else samples
            ),
            "ladder": check_ladder(self.reconstruction_ladder, "reconstruction_ladder"),
            "threshold": check_threshold(self.reconstruction_threshold, "reconstruction_threshold"),
        }

    def setup(self) -> ImageSetup:
        """The data set's set-up with this configuration's changes to its models."""
        return resolve_setup(
            self.dataset,
            match_node=self.match_node,
            anode_filters=self.anode_filters,
            augment_dims=self.augment_dims,
        )

    def epochs(self, setup: ImageSetup) -> int:
        """Training epochs: ``max_epochs``, else the profile's, else the set-up's."""
        chosen = self.max_epochs or self._profile("max_epochs")
        return chosen or (setup.quick_epochs if self.quick else setup.epochs)

    def data_kwargs(self, setup: ImageSetup) -> dict[str, Any]:
        """The DataModule's keywords (but ``seed``)."""
        train_subset = self.train_subset
        if train_subset is None and self.quick:
            train_subset = setup.quick_train_subset
        return {
            "data_dir": self.data_dir,
            "download": self.download,
            "batch_size": self.batch_size or self._profile("batch_size") or setup.batch_size,
            "train_subset": train_subset,
            "test_subset": self.test_subset,
            "num_workers": self.num_workers,
            "verify_checksums": self.verify_checksums,
        }
