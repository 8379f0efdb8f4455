"""Strategies of whole model configurations: ``AugmentedNeuralODE`` of every kind."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from .._augmentations import AUGMENTATIONS
from .._model import BACKENDS, SENSITIVITIES, SOLVERS, AugmentedNeuralODE
from .._validation import check_positive_float
from ._field_strategies import _randomise, mlp_vector_fields
from ._strategy_args import _bounds, _check, _choices, _dtype

__all__ = ["augmented_neural_odes"]


# Default solvers: adaptive ones whose tolerances bound the error at the saved times.
# Measured: torchdiffeq's bosh3 and dopri8 at tolerances of 1e-10 still end ~1e-7 off
# (dopri5: ~1e-10), likely from interpolating the final time; pass them explicitly.
_ACCURATE_AT_SAVED_TIMES = ("dopri5", "tsit5")


def augmented_neural_odes(
    *,
    min_input_dim: int = 1,
    max_input_dim: int = 3,
    min_augment_dims: int = 0,
    max_augment_dims: int = 3,
    backends: Sequence[str] | None = None,
    solvers: Sequence[str] | None = None,
    sensitivities: Sequence[str] | None = None,
    vector_fields: Callable[[int], st.SearchStrategy[Any]] | None = None,
    atol: float = 1e-6,
    rtol: float = 1e-6,
    dtype: torch.dtype = torch.float64,
    augmentations: Sequence[str] = ("zeros",),
) -> st.SearchStrategy[AugmentedNeuralODE]:
    """Whole :class:`~anode_plugin.AugmentedNeuralODE` configurations on vector inputs.

    Draws the input size ``d``, the augmentation kind and ``p``, a backend, a solver and
    a sensitivity valid for it, and a vector field of size ``d + p`` (``2 * (d + p)`` in,
    ``d + p`` out for ``'second_order'``). Learned augmentations (an input layer, a
    second-order model's initial velocity, drawn as zeros or learned) get random weights
    from a drawn seed. Draw matching inputs with :func:`model_inputs`.

    Args:
        min_input_dim: smallest input size ``d`` (>= 1).
        max_input_dim: largest input size.
        min_augment_dims: smallest augmentation ``p`` (>= 0).
        max_augment_dims: largest augmentation.
        backends: backends to draw from; ``None`` for all of ``BACKENDS``.
        solvers: solver names to draw from, each kept only for the backends that know it;
            ``None`` for those of ``dopri5`` and ``tsit5`` each backend has,
            whose tolerances hold at the saved times.
        sensitivities: sensitivities to draw from, kept per backend; ``None`` for all.
        vector_fields: ``size -> strategy`` of fields of that state size; ``None`` for
            :func:`mlp_vector_fields` with smooth activations (tanh, softplus).
        atol: the models' absolute tolerance.
        rtol: the models' relative tolerance.
        dtype: the models' dtype.
        augmentations: kinds from ``AUGMENTATIONS`` to draw from, e.g. all of them. With
            ``'second_order'``, ``vector_fields`` is called with the state size
            ``2 * (d + p)`` and its fields must return half that size.
    """
    min_input_dim, max_input_dim = _bounds("input_dim", min_input_dim, max_input_dim, minimum=1)
    min_augment_dims, max_augment_dims = _bounds(
        "augment_dims", min_augment_dims, max_augment_dims, minimum=0
    )
    kinds = _choices("augmentations", augmentations, AUGMENTATIONS)
    if kinds == ("input_layer",) and max_augment_dims == 0:
        raise InvalidArgument(
            "augmentations=('input_layer',) needs max_augment_dims >= 1: an input layer "
            "learns at least one augmented entry."
        )
    chosen_backends = _choices("backends", backends, BACKENDS)
    all_solvers = sorted({s for b in chosen_backends for s in SOLVERS[b]})
    all_sensitivities = sorted({s for b in chosen_backends for s in SENSITIVITIES[b]})
    wanted_solvers = _choices("solvers", solvers, all_solvers) if solvers is not None else None
    wanted_sens = _choices("sensitivities", sensitivities, all_sensitivities)
    options: list[tuple[str, str, str]] = []
    for backend in chosen_backends:
        names = _ACCURATE_AT_SAVED_TIMES if wanted_solvers is None else wanted_solvers
        for solver in (s for s in names if s in SOLVERS[backend]):
            for sensitivity in (s for s in wanted_sens if s in SENSITIVITIES[backend]):
                options.append((backend, solver, sensitivity))
    if not options:
        raise InvalidArgument(
            f"No valid (backend, solver, sensitivity) among backends={list(chosen_backends)}, "
            f"solvers={solvers!r}, sensitivities={sensitivities!r}; see SOLVERS and "
            "SENSITIVITIES for what each backend accepts."
        )
    atol = _check(check_positive_float, "atol", atol)
    rtol = _check(check_positive_float, "rtol", rtol)
    dtype = _dtype(dtype)
    default_fields = vector_fields is None
    if vector_fields is None:

        def vector_fields(size: int, out_dim: int | None = None) -> st.SearchStrategy[Any]:
            return mlp_vector_fields(
                min_dim=size,
                max_dim=size,
                max_hidden=8,
                activations=("tanh", "softplus"),
                dtype=dtype,
                out_dim=out_dim,
            )

    elif not callable(vector_fields):
        raise InvalidArgument(
            "`vector_fields` must be a function from a state size to a strategy of fields, "
            f"got {vector_fields!r}."
        )

    @st.composite
    def draw_model(draw: st.DrawFn) -> AugmentedNeuralODE:
        d = draw(st.integers(min_input_dim, max_input_dim))
        kind = draw(st.sampled_from([k for k in kinds if k != "input_layer" or max_augment_dims]))
        low = max(min_augment_dims, 1) if kind == "input_layer" else min_augment_dims
        p = draw(st.integers(low, max_augment_dims))
        backend, solver, sensitivity = draw(st.sampled_from(options))
        velocity = "zeros"
        if kind == "second_order":
            velocity = draw(st.sampled_from(("zeros", "learned")))
            size = 2 * (d + p)
            field = draw(vector_fields(size, d + p) if default_fields else vector_fields(size))
        else:
            field = draw(vector_fields(d + p))
        model = AugmentedNeuralODE(
            field,
            augment_dims=p,
            augmentation=kind,
            initial_velocity=velocity,
            backend=backend,
            solver=solver,
            sensitivity=sensitivity,
            atol=atol,
            rtol=rtol,
            atol_adjoint=atol,
            rtol_adjoint=rtol,
        )
        if kind != "zeros":
            model.augmenter(torch.zeros(1, d))  # build the lazy layers, then draw them
            _randomise(model.augmenter, draw(st.integers(0, 2**32 - 1)), 1.0, dtype)
        return model.to(dtype)

    return draw_model()
