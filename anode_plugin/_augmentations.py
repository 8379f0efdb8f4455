"""The augmentation kinds of ``AugmentedNeuralODE`` (zeros, a learned input layer, second
order) and :func:`build_augmentation`, which builds the one a model asks for.

Each kind is an :class:`~anode_plugin.Augmenter` (so ``strip`` gives ``x`` back and the
Lightning readout finds it) and, for second order, a wrapper that turns the user's
acceleration field into the first-order system the solvers integrate:

- ``'zeros'``: ``z0 = [x, 0]`` (Dupont et al., 2019), :class:`~anode_plugin.Augmenter`;
- ``'input_layer'``: ``z0 = [x, phi(x)]`` with ``phi`` learned (IL-NODE, Massaroli et
  al., 2020), :class:`InputLayerAugmenter`;
- ``'second_order'``: ``z0 = [q0, v0]`` with ``q0 = [x, 0]`` and ``x'' = f(t, [q, v])``
  (SONODE, Norcliffe et al., 2020), :class:`SecondOrderAugmenter` and
  :class:`SecondOrderField`.

The kinds are in ``_input_layer`` and ``_second_order``; this module is the factory.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

from torch import Tensor, nn

from ._augment import Augmenter
from ._errors import AugmentIndexError
from ._input_layer import InputLayerAugmenter
from ._second_order import (
    SecondOrderAugmenter,
    SecondOrderField,
)
from ._validation import (
    caller_stacklevel,
    check_choice,
    check_non_negative_int,
    check_positive_int,
)

__all__ = ["AUGMENTATIONS", "PLACEMENTS", "build_augmentation", "resolve_placement"]

#: The names ``AugmentedNeuralODE(augmentation=...)`` accepts (a module is accepted too).
AUGMENTATIONS = ("zeros", "input_layer", "second_order")
#: Where the augmented entries go: after ``x`` (the paper) or before it.
PLACEMENTS = ("last", "first")


def resolve_placement(placement: str | None, order: str | None) -> str:
    """``placement``, or ``order`` when it is given as the deprecated placement name
    (``'first'`` or ``'last'``; with a ``DeprecationWarning``)."""
    if order is None:
        return check_choice("placement", "last" if placement is None else placement, PLACEMENTS)
    if placement is not None:
        raise ValueError(
            f"Pass `placement` only: `order` is its deprecated name; got placement={placement!r} "
            f"and order={order!r}."
        )
    warnings.warn(
        "`order` is deprecated; use `placement` (same values, 'last' or 'first'). `order` is "
        "now torchdyn's: the ODE's order, an integer (see also augmentation='second_order').",
        DeprecationWarning,
        stacklevel=caller_stacklevel(),  # the user's line, past the model's frames
    )
    return check_choice("order", order, PLACEMENTS)


def build_augmentation(
    augmentation: str | nn.Module,
    vector_field: Callable[..., Tensor],
    augment_idx: int,
    augment_dims: int,
    placement: str | None,
    order: int | str,
    initial_velocity: str | nn.Module,
) -> tuple[str, Augmenter, Callable[..., Tensor], int]:
    """The kind's name, its augmenter, the field the solver integrates and the ODE's order.

    ``AugmentedNeuralODE``'s arguments of the same names: ``order`` is torchdyn's, the
    ODE's order, or as a string ``placement``'s deprecated name.
    """
    if isinstance(order, str):
        placement_alias, ode_order = order, 1
    else:
        placement_alias, ode_order = None, check_positive_int("order", order)
    augment_dims = check_non_negative_int("augment_dims", augment_dims)
    if isinstance(augment_idx, int) and not isinstance(augment_idx, bool) and augment_idx == 0:
        # The model's input is a batch: dimension 0 indexes the samples.
        raise AugmentIndexError(
            "`augment_idx`=0 is the batch dimension of the model's input [batch, d, ...]: "
            "augmenting it would add samples, not dimensions. Use 1 for the features of "
            "vectors and the channels of images (or a negative index from the end)."
        )
    placement = resolve_placement(placement, placement_alias)
    if isinstance(augmentation, nn.Module):
        kind = "input_layer"
    elif isinstance(augmentation, str) and augmentation in AUGMENTATIONS:
        kind = augmentation
    else:
        raise ValueError(
            f"`augmentation` must be one of {list(AUGMENTATIONS)} or an nn.Module mapping x "
            f"to the `augment_dims` augmented entries, got {augmentation!r}."
        )
    if kind != "second_order" and not (
        isinstance(initial_velocity, str) and initial_velocity == "zeros"
    ):
        raise ValueError(
            f"`initial_velocity` applies to augmentation='second_order' only; got "
            f"initial_velocity={initial_velocity!r} with augmentation={kind!r}."
        )
    if ode_order > 1:
        if kind != "zeros" or augment_dims:
            raise ValueError(
                f"order={ode_order} (torchdyn's higher-order system) takes the state as given, "
                f"blocks [x, x', ...], with augment_dims=0 and augmentation='zeros'; got "
                f"augment_dims={augment_dims}, augmentation={kind!r}. To augment a "
                "second-order model use augmentation='second_order' with order=1."
            )
        field = SecondOrderField(vector_field, augment_idx, ode_order, f"order={ode_order}")
        return kind, Augmenter(augment_idx, 0), field, ode_order  # nothing added: no placement
    if kind == "zeros":
        return kind, Augmenter(augment_idx, augment_dims, order=placement), vector_field, ode_order
    if kind == "input_layer":
        if augment_dims == 0:
            raise ValueError(
                "augmentation='input_layer' learns the `augment_dims` augmented entries; it "
                "needs augment_dims >= 1, got 0."
            )
        layer = augmentation if isinstance(augmentation, nn.Module) else None
        augmenter = InputLayerAugmenter(augment_idx, augment_dims, layer, placement)
        return kind, augmenter, vector_field, ode_order
    augmenter = SecondOrderAugmenter(augment_idx, augment_dims, placement, initial_velocity)
    return kind, augmenter, SecondOrderField(vector_field, augment_idx), ode_order
