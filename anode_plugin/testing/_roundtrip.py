"""Augmentation round trip: ``strip(augment(x))`` is ``x``."""

from __future__ import annotations

from torch import Tensor, nn

from ._check_args import _check_batch, _fmt

__all__ = ["assert_augmentation_roundtrip"]


def assert_augmentation_roundtrip(augmenter: nn.Module, x: Tensor) -> None:
    """Check that ``augmenter.strip(augmenter(x))`` equals ``x`` exactly.

    Also checks that the augmented tensor keeps ``x``'s dtype and device, grows by
    ``augment_dims`` along ``augment_idx`` (by what its ``augmented_size`` says, for the
    input-layer and second-order kinds) and, without an ``augment_func``, adds zeros
    (the position's zeros for a second-order state ``[x, 0, v]``).

    Args:
        augmenter: an :class:`anode_plugin.Augmenter` (anything with ``strip``), e.g. a
            model's ``augmenter`` of any ``augmentation`` kind.
        x: a tensor to augment, ``[batch, d, ...]``.

    Raises:
        AssertionError: naming what differs and the offending entries.
        TypeError: if ``augmenter`` has no ``strip`` method.
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this check's
    x = _check_batch("x", x)
    if not callable(getattr(augmenter, "strip", None)):
        raise TypeError(
            f"`augmenter` must have a `strip` method (an anode_plugin.Augmenter), got "
            f"{type(augmenter).__name__}."
        )
    z = augmenter(x)
    if z.dtype != x.dtype or z.device != x.device:
        raise AssertionError(
            f"Augmentation changed dtype/device: x is {x.dtype} on {x.device}, augmenter(x) "
            f"is {z.dtype} on {z.device}."
        )
    dim = getattr(augmenter, "augment_idx", 1) % x.ndim
    dims = getattr(augmenter, "augment_dims", None)
    func = getattr(augmenter, "augment_func", None)
    expected = list(x.shape)
    sized = getattr(augmenter, "augmented_size", None)
    if callable(sized) or (func is None and dims is not None):
        expected[dim] = sized(x.shape[dim]) if callable(sized) else expected[dim] + dims
        if list(z.shape) != expected:
            raise AssertionError(
                f"augmenter(x) has shape {tuple(z.shape)}, expected {tuple(expected)} "
                f"(x of shape {tuple(x.shape)}, augment_dims={dims} along dimension {dim})."
            )
    stripped = augmenter.strip(z)
    if stripped.shape != x.shape:
        raise AssertionError(
            f"strip(augmenter(x)) has shape {tuple(stripped.shape)}, x has shape "
            f"{tuple(x.shape)}; augmenter(x) had shape {tuple(z.shape)}."
        )
    differs = stripped != x
    if bool(differs.any()):
        index = tuple(int(v) for v in differs.nonzero()[0])
        raise AssertionError(
            f"strip(augmenter(x)) differs from x at {int(differs.sum())} entries; first at "
            f"index {index}: {_fmt(float(stripped[index]))} instead of {_fmt(float(x[index]))}.\n"
            f"  x[{index[0]}] = {_fmt(x[index[0]])}\n"
            f"  augmenter(x)[{index[0]}] = {_fmt(z[index[0]])}\n"
            f"  strip(augmenter(x))[{index[0]}] = {_fmt(stripped[index[0]])}"
        )
    if func is None and dims:
        order = getattr(augmenter, "order", "last")
        start = 0 if order == "first" else x.shape[dim]
        extra = z.narrow(dim, start, dims)
        if bool((extra != 0).any()):
            raise AssertionError(
                f"The augmented part of augmenter(x) is not zero (order={order!r}): {_fmt(extra)}."
            )
