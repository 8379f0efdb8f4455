"""diffrax versions of the peers section's two models, the whole training step under
``jax.jit`` (each field a function of a parameter pytree, which is what an equinox
module compiles to): the same weights (copied from the torch models), batch, solver,
tolerances and gradient method (autograd through the solve for spheres, the backsolve
adjoint for digits), Adam with torch's defaults. JAX is an optional extra (``bench``),
never a dependency of the package or its tests: without it the contender is skipped.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn


def _import_jax() -> Any:
    # One thread, as the torch contenders: set before JAX starts its CPU client.
    os.environ.setdefault(
        "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    )
    try:
        import diffrax
        import jax
        import jax.numpy as jnp
    except ImportError:
        warnings.warn(
            "peers: JAX or diffrax is not installed (pip install -e '.[bench]'); "
            "the diffrax contender is skipped.",
            stacklevel=3,
        )
        return None
    jax.config.update("jax_enable_x64", False)
    return jax, jnp, diffrax


def _array(jnp: Any, tensor: torch.Tensor) -> Any:
    return jnp.asarray(tensor.detach().cpu().numpy())


def _adam(jax: Any, jnp: Any, lr: float = 1e-3) -> tuple[Callable, Callable]:
    """Adam with torch's defaults (betas 0.9, 0.999, eps 1e-8, bias correction)."""

    def init(params: Any) -> Any:
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        return zeros, zeros, jnp.zeros((), jnp.int32)

    def update(params: Any, grads: Any, state: Any) -> tuple[Any, Any]:
        m, v, k = state
        k = k + 1
        m = jax.tree_util.tree_map(lambda a, g: 0.9 * a + 0.1 * g, m, grads)
        v = jax.tree_util.tree_map(lambda a, g: 0.999 * a + 0.001 * g * g, v, grads)
        c1, c2 = 1 - 0.9**k, 1 - 0.999**k

        def step(p: Any, a: Any, b: Any) -> Any:
            return p - lr * (a / c1) / (jnp.sqrt(b / c2) + 1e-8)

        return jax.tree_util.tree_map(step, params, m, v), (m, v, k)

    return init, update


def _params(jnp: Any, module: nn.Module) -> dict:
    """A torch module's parameters by name, as JAX arrays (the same initial weights)."""
    return {n: _array(jnp, p) for n, p in module.named_parameters()}


def _final_state(diffrax: Any, rate: Any, x: Any, field: dict, controller: Any, adjoint: Any):
    """dopri5 from ``x`` over [0, 1]: the final state and the number of steps taken."""
    solution = diffrax.diffeqsolve(
        diffrax.ODETerm(rate),
        diffrax.Dopri5(),
        0.0,
        1.0,
        None,
        x,
        args=field,
        stepsize_controller=controller,
        adjoint=adjoint,
    )
    return solution.ys[-1], solution.stats["num_steps"]


def jax_contender(case: str, setting: dict) -> Callable[[], tuple] | None:
    """A step function like the torch contenders', or ``None`` without JAX."""
    imported = _import_jax()
    if imported is None:
        return None
    jax, jnp, diffrax = imported

    if case.startswith("spheres"):
        params = {"field": _params(jnp, setting["field"]), "head": _params(jnp, setting["head"])}
        x = jnp.concatenate([_array(jnp, setting["x"]), jnp.zeros((64, 1))], axis=1)
        target = _array(jnp, setting["target"])

        def rate(t: Any, y: Any, w: Any) -> Any:
            h = jnp.concatenate([jnp.full((y.shape[0], 1), t), y], axis=1)
            h = jax.nn.relu(h @ w["fc1.weight"].T + w["fc1.bias"])
            h = jax.nn.relu(h @ w["fc2.weight"].T + w["fc2.bias"])
            return h @ w["fc3.weight"].T + w["fc3.bias"]

        controller = diffrax.PIDController(rtol=1e-3, atol=1e-3)
        adjoint = diffrax.RecursiveCheckpointAdjoint()  # autograd through the solve

        def loss_fn(params: dict) -> tuple[Any, Any]:
            z, steps = _final_state(diffrax, rate, x, params["field"], controller, adjoint)
            out = z @ params["head"]["weight"].T + params["head"]["bias"]
            return jnp.mean((out - target) ** 2), steps

    else:
        p = setting["p"]
        params = {"field": _params(jnp, setting["field"]), "head": _params(jnp, setting["head"])}
        images = _array(jnp, setting["x"])
        x = jnp.concatenate([images, jnp.zeros((images.shape[0], p, *images.shape[2:]))], 1)
        labels = jnp.asarray(setting["y"].numpy())

        def conv(h: Any, t: Any, weight: Any, bias: Any, padding: int) -> Any:
            # The time as channel 0, as the reference code concatenates it.
            time_channel = jnp.full((h.shape[0], 1, *h.shape[2:]), t)
            h = jnp.concatenate([time_channel, h], axis=1)
            out = jax.lax.conv_general_dilated(
                h,
                weight,
                (1, 1),
                [(padding, padding)] * 2,
                dimension_numbers=("NCHW", "OIHW", "NCHW"),
            )
            return out + bias[None, :, None, None]

        def rate(t: Any, y: Any, w: Any) -> Any:
            h = jax.nn.relu(conv(y, t, w["conv1.weight"], w["conv1.bias"], 0))
            h = jax.nn.relu(conv(h, t, w["conv2.weight"], w["conv2.bias"], 1))
            return conv(h, t, w["conv3.weight"], w["conv3.bias"], 0)

        controller = diffrax.PIDController(rtol=1e-3, atol=1e-3)
        adjoint = diffrax.BacksolveAdjoint(stepsize_controller=controller)

        def loss_fn(params: dict) -> tuple[Any, Any]:
            z, steps = _final_state(diffrax, rate, x, params["field"], controller, adjoint)
            z = z.reshape(x.shape[0], -1)
            logits = z @ params["head"]["weight"].T + params["head"]["bias"]
            log_p = jax.nn.log_softmax(logits)
            loss = -jnp.mean(jnp.take_along_axis(log_p, labels[:, None], 1))
            return loss, steps

    init, update = _adam(jax, jnp)

    @jax.jit
    def train_step(params: dict, state: Any) -> tuple:
        (loss, steps), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        params, state = update(params, grads, state)
        return params, state, loss, steps

    holder = {"params": params, "state": init(params)}

    def step() -> tuple[float, int, int, float]:
        start = time.perf_counter()
        params, state, loss, steps = train_step(holder["params"], holder["state"])
        loss = float(jax.block_until_ready(loss))
        seconds = time.perf_counter() - start
        holder["params"], holder["state"] = params, state
        # diffrax's dopri5 (FSAL): 6 evaluations a step attempt, 2 to choose the first.
        return seconds, 2 + 6 * int(steps), 0, loss

    return step
