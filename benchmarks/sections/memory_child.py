"""Run by the memory section in a fresh process: peak memory of one training step.

Usage: ``python memory_child.py STEPS SENSITIVITY``; prints one JSON line with the peak
RSS above a no-grad solve (MiB), the bytes autograd saved (MiB) and the NFE.
"""

import json
import resource
import sys

import torch

from anode_plugin import AugmentedNeuralODE, ConvVectorField

torch.set_num_threads(1)
steps, sensitivity = int(sys.argv[1]), sys.argv[2]
torch.manual_seed(0)
model = AugmentedNeuralODE(
    ConvVectorField(6, 32),
    augment_dims=5,
    backend="torchdiffeq",
    solver="rk4",
    sensitivity=sensitivity,
    solver_options={"step_size": 1.0 / steps},
)
x = torch.rand(16, 1, 28, 28)
with torch.no_grad():
    model.features(x)
saved = [0]


def pack(t: torch.Tensor) -> torch.Tensor:
    saved[0] += t.numel() * t.element_size()
    return t


base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
    loss = model.features(x).pow(2).mean()
loss.backward()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(
    json.dumps(
        {
            "peak_mib": (peak - base) / 1024,
            "saved_mib": saved[0] / 2**20,
            "nfe": model.nfe.as_dict(),
        }
    )
)
