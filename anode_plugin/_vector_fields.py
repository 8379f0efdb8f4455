"""The paper's vector fields: an MLP for vectors and a small CNN for images.

Both take ``(t, x)`` and accept (and ignore) torchdyn's ``args`` keyword, so they
also work inside a plain ``torchdyn.core.NeuralODE``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._errors import StateShapeError
from ._validation import check_bool, check_choice, check_positive_int

__all__ = ["ACTIVATIONS", "ConvVectorField", "MLPVectorField", "activation_module"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "softplus": nn.Softplus,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
}


def activation_module(name: str) -> nn.Module:
    return ACTIVATIONS[check_choice("activation", name, ACTIVATIONS)]()


class MLPVectorField(nn.Module):
    """The paper's MLP vector field ``f(t, h)`` for states of shape ``[batch, dim]``.

    Three linear layers ``dim (+1 for t) -> hidden_dim -> hidden_dim -> out_dim`` with
    the activation after the first two, as in the reference ANODE code.

    Args:
        dim: state size, augmented dimensions included (``d + p``).
        hidden_dim: width of the two hidden layers.
        time_dependent: whether ``t`` is fed to the first layer as one extra input.
        activation: one of ``ACTIVATIONS`` (``'relu'``, ``'softplus'``, ``'tanh'``, ...).
        out_dim: output size; ``None`` for ``dim``. A second-order model's field
            (``augmentation='second_order'``) sees ``[x, v]`` of size ``2 * (d + p)`` and
            returns the acceleration: ``MLPVectorField(2 * (d + p), out_dim=d + p)``.

    Shape:
        - ``t``: scalar tensor (shape ``[]`` or ``[1]``).
        - ``x``: ``[batch, dim]``; output: ``[batch, out_dim]``.
    """

    def __init__(
        self,
        dim: int,
        hidden_dim: int = 32,
        *,
        time_dependent: bool = True,
        activation: str = "relu",
        out_dim: int | None = None,
    ) -> None:
        super().__init__()
        self.dim = check_positive_int("dim", dim)
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        self.out_dim = self.dim if out_dim is None else check_positive_int("out_dim", out_dim)
        self.time_dependent = check_bool("time_dependent", time_dependent)
        self.fc1 = nn.Linear(self.dim + int(self.time_dependent), self.hidden_dim)
        self.fc2 = nn.Linear(self.hidden_dim, self.hidden_dim)
        self.fc3 = nn.Linear(self.hidden_dim, self.out_dim)
        self.activation = activation_module(activation)

    def forward(self, t: Tensor, x: Tensor, args: Any = None) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise StateShapeError(
                f"MLPVectorField(dim={self.dim}) takes states of shape [batch, {self.dim}], got "
                f"{tuple(x.shape)}. With augmentation, dim must be the input size plus "
                "`augment_dims`."
            )
        if self.time_dependent:
            # One time for the batch, or one per sample (per-sample solvers: torchode).
            time = torch.as_tensor(t, dtype=x.dtype, device=x.device).reshape(-1, 1)
            x = torch.cat([time.expand(x.shape[0], 1), x], dim=1)
        h = self.activation(self.fc1(x))
        h = self.activation(self.fc2(h))
        return self.fc3(h)


class _TimeConv2d(nn.Conv2d):
    """A convolution that sees ``t`` as one extra constant input channel (channel 0).

    The time channel is never built: a constant channel's contribution to a (zero
    padded) convolution is ``t`` times a fixed map, the convolution of a ones image
    with the time slice of the weight. For a 1x1 kernel without padding that map is
    constant in space and folds into the bias; otherwise it is recomputed on every
    call from a ``[1, 1, h, w]`` ones image (cheap next to the convolution, and always
    in step with the weight, which the optimiser changes every step). The parameters
    keep the shape of the concatenating layer, so checkpoints load unchanged.
    """

    def forward(self, t: Tensor, x: Tensor) -> Tensor:  # type: ignore[override]
        # One time for the batch, or one per sample (per-sample solvers: torchode).
        time = torch.as_tensor(t, dtype=x.dtype, device=x.device).reshape(-1, 1, 1, 1)
        w_time, w_state = self.weight[:, :1], self.weight[:, 1:]
        if self.kernel_size == (1, 1) and self.padding == (0, 0):
            if time.numel() == 1:
                shift = time.reshape(()) * w_time.reshape(-1)
                bias = shift if self.bias is None else self.bias + shift
                return F.conv2d(x, w_state, bias, self.stride, 0, self.dilation, self.groups)
            out = F.conv2d(x, w_state, self.bias, self.stride, 0, self.dilation, self.groups)
            return out.add_(time * w_time.reshape(1, -1, 1, 1))
        out = F.conv2d(x, w_state, self.bias, self.stride, self.padding, self.dilation, self.groups)
        ones = x.new_ones((1, 1, *x.shape[2:]))
        time_map = F.conv2d(ones, w_time, None, self.stride, self.padding, self.dilation)
        # In place: the convolution's backward does not need its output.
        return out.add_(time * time_map)


def _activate_(activation: nn.Module, h: Tensor) -> Tensor:
    """Apply ``activation`` to a fresh intermediate ``h``, in place where autograd allows.

    ReLU, tanh, ELU, leaky ReLU and SiLU have in-place forms whose backward is exact
    (checked against the out-of-place forms in the tests); softplus and GELU (and any
    other module) run out of place.
    """
    kind = type(activation)
    if kind is nn.ReLU:
        return torch.relu_(h)
    if kind is nn.Tanh:
        return torch.tanh_(h)
    if kind is nn.ELU:
        return F.elu(h, alpha=activation.alpha, inplace=True)
    if kind is nn.LeakyReLU and activation.negative_slope > 0:
        return F.leaky_relu(h, activation.negative_slope, inplace=True)
    if kind is nn.SiLU:
        return F.silu(h, inplace=True)
    return activation(h)


class ConvVectorField(nn.Module):
    """The paper's convolutional vector field for image states ``[batch, channels, h, w]``.

    ``1x1 conv -> 3x3 conv (padding 1) -> 1x1 conv`` with the activation after the
    first two and no downsampling. When time-dependent, each convolution sees ``t``
    as one extra constant channel; that channel is folded into the convolution
    (a bias for the 1x1 convolutions, a fixed map times ``t`` for the 3x3 one) rather
    than concatenated to the state, which gives the same function and parameters.

    Args:
        channels: state channels, augmented channels included (``c + p``).
        num_filters: channels of the two hidden feature maps.
        time_dependent: whether each convolution receives ``t`` as an extra channel.
        activation: one of ``ACTIVATIONS``.
        out_channels: output channels; ``None`` for ``channels`` (a second-order
            model's field: ``ConvVectorField(2 * (c + p), n, out_channels=c + p)``).

    Shape:
        - ``x``: ``[batch, channels, height, width]``; output:
          ``[batch, out_channels, height, width]``.
    """

    def __init__(
        self,
        channels: int,
        num_filters: int,
        *,
        time_dependent: bool = True,
        activation: str = "relu",
        out_channels: int | None = None,
    ) -> None:
        super().__init__()
        self.channels = check_positive_int("channels", channels)
        self.out_channels = (
            self.channels
            if out_channels is None
            else check_positive_int("out_channels", out_channels)
        )
        self.num_filters = check_positive_int("num_filters", num_filters)
        self.time_dependent = check_bool("time_dependent", time_dependent)
        conv = _TimeConv2d if self.time_dependent else nn.Conv2d
        extra = int(self.time_dependent)
        self.conv1 = conv(self.channels + extra, self.num_filters, kernel_size=1)
        self.conv2 = conv(self.num_filters + extra, self.num_filters, kernel_size=3, padding=1)
        self.conv3 = conv(self.num_filters + extra, self.out_channels, kernel_size=1)
        self.activation = activation_module(activation)

    def forward(self, t: Tensor, x: Tensor, args: Any = None) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise StateShapeError(
                f"ConvVectorField(channels={self.channels}) takes states of shape [batch, "
                f"{self.channels}, height, width], got {tuple(x.shape)}. With augmentation, "
                "channels must be the input channels plus `augment_dims`."
            )
        # oneDNN's CPU convolutions run about 15% faster on channels-last maps (measured
        # with benchmarks/run.py); only the thin input and output are converted, the wide
        # hidden maps are born channels-last. The output keeps the input's layout.
        channels_last = x.device.type == "cpu" and x.is_contiguous()
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.time_dependent:
            h = _activate_(self.activation, self.conv1(t, x))
            h = _activate_(self.activation, self.conv2(t, h))
            out = self.conv3(t, h)
        else:
            h = _activate_(self.activation, self.conv1(x))
            h = _activate_(self.activation, self.conv2(h))
            out = self.conv3(h)
        return out.contiguous() if channels_last else out
