"""A whole Runge-Kutta step under ``torch.compile``: the field's evaluations, the stage
sums and the error ratio in one graph (``NativeBackend(compile=True)``).

One compiled step per method and process (:func:`compiled_step` is cached): the field
module is an argument and its parameters are graph inputs, so a new model of the same
field class and shapes reuses the compiled code; the seeds of one experiment pay for
one compilation. Time and step size enter as 0-dim tensors, so new values do not
recompile. The evaluations happen inside the graph: they are counted around it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from .._evaluations import Evaluations
from .._norms import FULL_NORM, ErrorNorm
from ._stepper import error_ratio
from ._tableaus import ButcherTableau

__all__ = ["CompiledStep", "check_compile_options", "compiled_step"]

# torch.compile's keyword arguments that a compiled step takes.
_COMPILE_OPTIONS = ("backend", "mode", "fullgraph", "dynamic", "options")


def check_compile_options(compile: object) -> None:
    """``compile`` is ``True``, ``False`` or a dict of :data:`_COMPILE_OPTIONS`."""
    if isinstance(compile, bool):
        return
    if not isinstance(compile, Mapping):
        raise TypeError(
            f"`compile` must be True, False or a dict of torch.compile's options, got {compile!r}."
        )
    unknown = sorted(set(compile) - set(_COMPILE_OPTIONS))
    if unknown:
        raise ValueError(
            f"`compile` takes torch.compile's options {list(_COMPILE_OPTIONS)}, got {unknown}."
        )
    try:
        hash(tuple(sorted(compile.items())))
    except TypeError as error:
        raise TypeError(
            f"`compile`'s option values must be hashable (strings, booleans, numbers), got "
            f"{dict(compile)!r}: {error}."
        ) from None


class CompiledResult(NamedTuple):
    """A compiled step's solution, last stage (FSAL) and error ratio (0-dim, no graph)."""

    y: Tensor
    last: Tensor | None
    ratio: Tensor | None


def _weighted(y0: Tensor, dt: Tensor, weights: tuple[float, ...], ks: list[Tensor]) -> Tensor:
    terms = [w * k for w, k in zip(weights, ks, strict=False) if w != 0.0]
    return y0 + dt * functools.reduce(torch.add, terms) if terms else y0


def _step_function(tableau: ButcherTableau) -> Callable[..., Any]:
    """The step written as plain arithmetic, for the compiler to fuse."""
    c, a, b, error, fsal = tableau.c, tableau.a, tableau.b, tableau.error, tableau.fsal

    def step(
        field: nn.Module,
        t: Tensor,
        dt: Tensor,
        y0: Tensor,
        k0: Tensor | None,
        entries: int | None,
        atol: float,
        rtol: float,
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        ks = [field(t, y0) if k0 is None else k0]
        stage_input = y0
        for i in range(1, len(c)):
            stage_input = _weighted(y0, dt, a[i - 1], ks)
            ks.append(field(t + c[i] * dt, stage_input))
        y1 = stage_input if fsal else _weighted(y0, dt, b, ks)
        if error is None:
            return y1, None, None
        with torch.no_grad():
            err = dt * functools.reduce(
                torch.add, [w * k.detach() for w, k in zip(error, ks, strict=True) if w != 0.0]
            )
        # `entries`, an int, not the norm object: a new norm per solve would recompile.
        norm = FULL_NORM if entries is None else ErrorNorm(entries)
        ratio = error_ratio(norm, err, y0.detach(), y1.detach(), atol, rtol)
        return y1, ks[-1] if fsal else None, ratio

    return step


class CompiledStep:
    """Steps of one method, compiled once.

    Args:
        tableau: the method.
        options: ``torch.compile``'s keyword arguments, as sorted items.
    """

    def __init__(self, tableau: ButcherTableau, options: tuple[tuple[str, Any], ...]) -> None:
        self.tableau = tableau
        self.graph = torch.compile(_step_function(tableau), **dict(options))

    def __call__(
        self,
        counted: Evaluations,
        s: float,
        dt: float,
        y: Tensor,
        k: Tensor | None,
        norm: ErrorNorm,
        atol: float,
        rtol: float,
        time_dtype: torch.dtype,
        tallies: Sequence[nn.Module] = (),
    ) -> CompiledResult:
        """One step of ``counted.field`` from ``(s, y)``, its evaluations counted: by the
        solve's counter, and by each of ``tallies``, the modules of the field that count
        their own calls (``nfe``, torchdyn's): they skip it inside the graph, and do it
        when dynamo runs the step eagerly (past its recompilation limit), so each ends
        ``evaluations`` higher either way."""
        evaluations = self.tableau.stages - (k is not None)
        counted.charge(evaluations, s, y)
        before = [module.nfe for module in tallies]
        t = torch.tensor(s, dtype=time_dtype, device=y.device)
        h = torch.tensor(dt, dtype=time_dtype, device=y.device)
        result = CompiledResult(*self.graph(counted.field, t, h, y, k, norm.entries, atol, rtol))
        for module, count in zip(tallies, before, strict=True):
            module.nfe = count + evaluations
        return result


@functools.cache
def compiled_step(tableau: ButcherTableau, options: tuple[tuple[str, Any], ...]) -> CompiledStep:
    """The process's compiled step of ``tableau`` with ``options`` (built on first use)."""
    return CompiledStep(tableau, options)
