"""Profiles: the sizes and repeats of one run of the suite, by name."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    """Sizes and repeats of one run of the suite.

    Attributes:
        repeats: timed repeats of each measurement (medians are reported).
        overhead_cases: ``(field, sensitivity)`` pairs of the overhead section, fields
            ``'mlp'`` or ``'conv'``.
        tracking_steps: training steps of each fit in the NFE-tracking section.
        efficiency_batch: batch of the digits-sized cases (efficiency, backends, compile).
        mnist_batch: batch of the MNIST-sized cases (efficiency, seminorm).
        train_steps: most training steps of the ANODE-vs-NODE and regulariser runs.
        memory_steps: rk4 step counts of the memory section, smallest first.
        compile_repeats: timed repeats of the compile section.
        per_sample_steps: training steps of each model in the per-sample section.
        peers: the peers section's contenders beyond the eager backends: ``'compiled'``
            (the native backend's compiled step) and ``'diffrax'`` (when JAX is installed).
    """

    repeats: int
    overhead_cases: tuple[tuple[str, str], ...]
    tracking_steps: int
    efficiency_batch: int
    mnist_batch: int
    train_steps: int
    memory_steps: tuple[int, ...]
    compile_repeats: int
    per_sample_steps: int
    peers: tuple[str, ...] = ("compiled", "diffrax")


PROFILES = {
    # A smoke test of the suite itself: its figures mean nothing.
    "tiny": Profile(
        repeats=2,
        overhead_cases=(("mlp", "autograd"),),
        tracking_steps=4,
        efficiency_batch=8,
        mnist_batch=2,
        train_steps=4,
        memory_steps=(2, 4),
        compile_repeats=1,
        per_sample_steps=3,
        peers=(),  # no compilation in a smoke test
    ),
    # Under ten minutes on 2 cores.
    "quick": Profile(
        repeats=7,
        overhead_cases=(("mlp", "autograd"), ("mlp", "adjoint"), ("conv", "autograd")),
        tracking_steps=30,
        efficiency_batch=64,
        mnist_batch=16,
        train_steps=120,
        memory_steps=(8, 16, 32),
        compile_repeats=5,
        per_sample_steps=30,
    ),
    "full": Profile(
        repeats=25,
        overhead_cases=(
            ("mlp", "autograd"),
            ("mlp", "adjoint"),
            ("conv", "autograd"),
            ("conv", "adjoint"),
        ),
        tracking_steps=100,
        efficiency_batch=128,
        mnist_batch=64,
        train_steps=400,
        memory_steps=(8, 16, 32, 64),
        compile_repeats=15,
        per_sample_steps=120,
    ),
}
