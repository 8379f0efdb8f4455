"""Reference implementations the benchmarks compare the package's fields against.

Not part of anode-plugin's API: kept here so that a speed-up can be measured against
the code it replaced.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from anode_plugin import ACTIVATIONS

__all__ = ["ConcatConvVectorField"]


class _ConcatTimeConv2d(nn.Conv2d):
    """A convolution fed ``t`` as a constant channel built and concatenated each call."""

    def forward(self, t: Tensor, x: Tensor) -> Tensor:  # type: ignore[override]
        b, _, h, w = x.shape
        time = torch.as_tensor(t, dtype=x.dtype, device=x.device).reshape(1, 1, 1, 1)
        return super().forward(torch.cat([time.expand(b, 1, h, w), x], dim=1))


class ConcatConvVectorField(nn.Module):
    """``ConvVectorField`` as first written: a time channel concatenated before each
    convolution. Same parameters and ``state_dict`` keys, so either loads the other's.
    """

    def __init__(
        self,
        channels: int,
        num_filters: int,
        *,
        time_dependent: bool = True,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.time_dependent = bool(time_dependent)
        conv = _ConcatTimeConv2d if self.time_dependent else nn.Conv2d
        extra = int(self.time_dependent)
        self.conv1 = conv(channels + extra, num_filters, kernel_size=1)
        self.conv2 = conv(num_filters + extra, num_filters, kernel_size=3, padding=1)
        self.conv3 = conv(num_filters + extra, channels, kernel_size=1)
        self.activation = ACTIVATIONS[activation]()

    def forward(self, t: Tensor, x: Tensor, args: Any = None) -> Tensor:
        if self.time_dependent:
            h = self.activation(self.conv1(t, x))
            h = self.activation(self.conv2(t, h))
            return self.conv3(t, h)
        h = self.activation(self.conv1(x))
        h = self.activation(self.conv2(h))
        return self.conv3(h)
