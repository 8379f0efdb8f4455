"""TF32 tensor-core maths for float32 matmuls and convolutions on CUDA."""

from __future__ import annotations

import torch

__all__ = ["enable_tf32"]


def enable_tf32() -> None:
    """Allow TF32 matmuls and convolutions on CUDA (Ampere or newer): about twice as fast.

    TF32 keeps 10 bits of mantissa, well inside the solvers' usual 1e-3 tolerances. The
    switches are process-wide and harmless without a GPU.
    """
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.set_float32_matmul_precision("high")
