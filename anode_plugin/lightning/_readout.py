"""``ANODEModule``'s readout: a linear layer on the flattened features, or with
``readout=False`` the original, non-augmented part of the ODE block's final state,
found through the block's one augmenter."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn
from torch.nn.modules.lazy import LazyModuleMixin
from torchdyn.nn import Augmenter as TorchdynAugmenter

from .._augment import Augmenter
from ._task_loss import unpack_batch

__all__ = [
    "augmenter_path",
    "check_feature_dim",
    "first_example",
    "original_coordinates",
    "strip_augmented",
]


def augmenter_path(ode: nn.Module) -> str | None:
    """Name of the one augmenter inside ``ode`` (``''`` for ``ode`` itself), or ``None``."""
    names = [
        name
        for name, module in ode.named_modules()
        if isinstance(module, (Augmenter, TorchdynAugmenter))
    ]
    if len(names) > 1:
        raise ValueError(
            f"readout=False predicts the original coordinates of phi(x), but `ode` holds "
            f"{len(names)} augmenters ({names}) and the original part is ambiguous; use "
            "readout=True."
        )
    if not names:
        return None
    augmenter = ode.get_submodule(names[0])
    if isinstance(augmenter, TorchdynAugmenter) and augmenter.augment_func is not None:
        raise ValueError(
            "readout=False cannot strip a torchdyn Augmenter with an `augment_func`: its "
            "augmented size is unknown. Use anode_plugin.Augmenter or readout=True."
        )
    return names[0]


def strip_augmented(augmenter: nn.Module, z: Tensor) -> Tensor:
    """``z`` without the entries ``augmenter`` added: ``[batch, d, ...]``."""
    if isinstance(augmenter, TorchdynAugmenter):
        # torchdyn's augmenter cannot strip: an equivalent one of ours does it.
        augmenter = Augmenter(augmenter.augment_idx, augmenter.augment_dims, order=augmenter.order)
    return augmenter.strip(z)


def check_feature_dim(head: nn.Module, z: Tensor) -> Tensor:
    """The features ``z`` flattened, ``[batch, n]``, checked against the head's size."""
    features = z.flatten(1)
    expected = getattr(head, "in_features", 0)  # 0: lazy, takes any size
    if expected and features.shape[1] != expected:
        raise ValueError(
            f"`feature_dim`={expected}, but the ODE block's final state has "
            f"{features.shape[1]} entries per sample (shape {tuple(z.shape)}): "
            f"set feature_dim={features.shape[1]}, or leave it out to infer it."
        )
    return features


def original_coordinates(z: Tensor, num_outputs: int) -> Tensor:
    """``z`` (already stripped) flattened as the prediction, ``[batch, num_outputs]``."""
    out = z.flatten(1)
    if out.shape[1] != num_outputs:
        raise ValueError(
            f"readout=False predicts the original coordinates of phi(x), which have "
            f"{out.shape[1]} entries, but num_outputs={num_outputs}; set num_outputs="
            f"{out.shape[1]} or use readout=True."
        )
    return out


_DATALOADER_OF_STAGE = {
    "fit": "train_dataloader",
    "validate": "val_dataloader",
    "test": "test_dataloader",
    "predict": "predict_dataloader",
}


def first_example(module: nn.Module, datamodule: Any, stage: str) -> Tensor | None:
    """One input ``[1, ...]`` of the stage's data when ``module`` has lazy parameters to
    shape (a lazy readout or input layer); ``None`` when it has none, or no data."""
    if not any(
        isinstance(m, LazyModuleMixin) and m.has_uninitialized_params() for m in module.modules()
    ):
        return None
    if datamodule is None or stage not in _DATALOADER_OF_STAGE:
        return None
    batch = next(iter(getattr(datamodule, _DATALOADER_OF_STAGE[stage])()))
    return unpack_batch(batch)[0][:1]
