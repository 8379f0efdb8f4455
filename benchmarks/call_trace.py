"""The package functions one adjoint forward + backward passes through, and their files.

A measure of how far the solve layer is from "one direction": each gradient method
should own its algorithm and call the backend's integrate, nothing calling back.

    python benchmarks/call_trace.py [--seminorm] [--backend torchdyn]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

#: Modules of the backends and of the gradient methods: a call from the first to the
#: second is a call back.
BACKENDS = ("solve/_torchdyn.py", "solve/_torchdiffeq.py", "solve/_torchode.py")
GRADIENTS = ("solve/_autograd.py", "solve/_adjoint.py", "solve/_interpolated.py")
GRADIENTS += ("solve/_backsolve.py",)


def trace(
    backend: str, seminorm: bool | None
) -> tuple[list[tuple[str, str]], set[tuple[str, str]]]:
    """``(file, function)`` of every distinct package function called, in call order,
    and the ``(caller file, callee file)`` pairs of the calls between them."""
    import anode_plugin
    from anode_plugin import AugmentedNeuralODE, MLPVectorField

    root = str(Path(anode_plugin.__file__).parent)
    torch.manual_seed(0)
    model = AugmentedNeuralODE(
        MLPVectorField(3, 16),
        augment_dims=1,
        backend=backend,
        sensitivity="adjoint",
        seminorm=seminorm,
    )
    x = torch.randn(4, 2)
    seen: dict[tuple[str, str], None] = {}
    edges: set[tuple[str, str]] = set()

    def profile(frame, event, arg):
        code = frame.f_code
        # Comprehensions are expressions, not functions a reader follows.
        if event != "call" or not code.co_filename.startswith(root) or ">" in code.co_name:
            return
        path = code.co_filename[len(root) + 1 :]
        seen.setdefault((path, code.co_qualname), None)
        caller = frame.f_back
        if caller is not None and caller.f_code.co_filename.startswith(root):
            edges.add((caller.f_code.co_filename[len(root) + 1 :], path))

    model(x)  # warm: solver modules built, imports done
    sys.setprofile(profile)
    torch.autograd.set_grad_enabled(True)
    _, sol = model(x)
    sol[-1].square().sum().backward()
    sys.setprofile(None)
    return list(seen), edges


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", default="torchdyn")
    parser.add_argument("--seminorm", action="store_true")
    args = parser.parse_args()
    calls, edges = trace(args.backend, True if args.seminorm else None)
    files = sorted({path for path, _ in calls})
    for path, name in calls:
        print(f"{path}:{name}")
    back = sorted((a, b) for a, b in edges if a in BACKENDS and b in GRADIENTS)
    print(f"calls from a backend into a gradient method: {back or 'none'}")
    print(f"{len(calls)} package functions in {len(files)} files: {', '.join(files)}")


if __name__ == "__main__":
    main()
