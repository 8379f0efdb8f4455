"""Forward NFE and task loss with the kinetic and Jacobian regularisers."""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

from anode_plugin import AugmentedNeuralODE

from ._classification import Classifier, anode_cases
from ._profiles import Profile
from ._row import Row


def bench_regularisers(p: Profile) -> list[Row]:
    rows = []
    for name, (x, y), _, batch, lr, variants in anode_cases():
        make, aug, feature_dim = list(variants.values())[1]
        results = {}
        for label, regs, weight in (
            ("none", (), 0.0),
            ("kinetic+jacobian", ("kinetic", "jacobian"), 0.1),
        ):
            torch.manual_seed(0)
            ode = AugmentedNeuralODE(make(), augment_dims=aug, regularisers=regs)
            model = Classifier(ode, feature_dim, 10)
            optimizer = torch.optim.Adam(model.parameters(), lr, weight_decay=1e-4)
            generator = torch.Generator().manual_seed(0)
            losses, nfes, elapsed = [], [], 0.0
            for _ in range(p.train_steps):
                idx = torch.randint(0, len(x), (min(batch, 64),), generator=generator)
                ode.reset_nfe()
                start = time.perf_counter()
                optimizer.zero_grad(set_to_none=True)
                task = F.cross_entropy(model(x[idx]), y[idx])
                reg = sum((v.mean() for v in ode.regularisation.values()), torch.zeros(()))
                (task + weight * reg).backward()
                optimizer.step()
                elapsed += time.perf_counter() - start
                losses.append(float(task.detach()))
                nfes.append(ode.nfe.forward)
            model.eval()
            with torch.no_grad():
                ode.reset_nfe()
                eval_loss = float(F.cross_entropy(model(x), y))
                eval_nfe = ode.nfe.forward
            results[label] = {
                "train_loss_last10": statistics.mean(losses[-10:]),
                "train_nfe_last10": statistics.mean(nfes[-10:]),
                "eval_loss": eval_loss,
                "eval_nfe": eval_nfe,
                "seconds": elapsed,
            }
        base, reg = results["none"], results["kinetic+jacobian"]
        rows.append(
            Row(
                "regularisers",
                f"{name}, ANODE, weights 0.1 + weight decay 1e-4",
                "forward NFE regularised / plain (whole set, after training)",
                reg["eval_nfe"] / base["eval_nfe"],
                "< 1",
                reg["eval_nfe"] < base["eval_nfe"],
                results,
            )
        )
        rows.append(
            Row(
                "regularisers",
                f"{name}, ANODE",
                "task loss regularised / plain (whole set)",
                reg["eval_loss"] / base["eval_loss"],
                details={"train_time_ratio": reg["seconds"] / base["seconds"]},
            )
        )
    return rows
