"""``ChannelsLast``: conv ODE blocks in channels-last memory format on CUDA (private)."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor, nn
from typing_extensions import override

from .._model import AugmentedNeuralODE
from .._vector_fields import ConvVectorField

__all__ = ["ChannelsLast", "to_channels_last"]


def _channels_last_input(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
    if args and isinstance(args[0], Tensor) and args[0].ndim == 4:
        return (args[0].contiguous(memory_format=torch.channels_last), *args[1:])
    return None


def to_channels_last(module: nn.Module) -> list[Any]:
    """Put ``module`` in channels-last format when it holds a ``ConvVectorField``.

    The weights of its convolutions, and the image inputs of each ``AugmentedNeuralODE``
    (a forward pre-hook), become channels-last, so cuDNN runs NHWC kernels (native to
    tensor cores, TF32 included) on states that stay channels-last through the solve.
    Only the layout changes: values are the same.

    Returns:
        The hooks' handles (``handle.remove()`` undoes the input conversion), empty when
        ``module`` has no ``ConvVectorField``.
    """
    if not any(isinstance(m, ConvVectorField) for m in module.modules()):
        return []
    module.to(memory_format=torch.channels_last)
    return [
        block.register_forward_pre_hook(_channels_last_input)
        for block in module.modules()
        if isinstance(block, AugmentedNeuralODE)
    ]


class ChannelsLast(Callback):
    """On a CUDA device, runs the module's conv ODE blocks in channels-last format.

    Does nothing on other devices (the ``ConvVectorField`` already converts on the CPU)
    or for a module without a ``ConvVectorField``.
    """

    def __init__(self) -> None:
        self._handles: list[Any] = []

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if trainer.strategy.root_device.type == "cuda" and not self._handles:
            self._handles = to_channels_last(pl_module)

    @override
    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_handles"] = []
        return state
