"""Train with Lightning, track the NFE with `NFECallback`, cap it with `NFEBudget`.

`ANODEModule` wraps an `AugmentedNeuralODE` with a readout, a loss and an optimiser.
`NFECallback` records the forward and backward function evaluations of every training
step (and puts them on the progress bar and in the loggers); `NFEBudget` watches the
same figures and, when a step needs more forward evaluations than allowed, saves a
checkpoint and stops the run (`on_exceed="stop"`; "raise" and "warn" are the others).

Run it:

    python examples/lightning_nfe_budget.py                # 30 epochs, budget 40 NFE
    python examples/lightning_nfe_budget.py --budget 20    # a tighter budget
    python examples/lightning_nfe_budget.py --fast         # a few seconds (CI)

`--fast` trains 2 epochs on few points, with a budget of 10: below the 14 evaluations
dopri5 needs for its first steps, so CI sees the stop-and-checkpoint path.
Writes `nfe_NODE.csv`, `nfe_ANODE.csv`, `nfe.png` and the checkpoints into `--out`
(default: ./example-output/lightning).
"""

import argparse
import warnings
from pathlib import Path

import lightning.pytorch as pl
import matplotlib

matplotlib.use("Agg")  # files only, no window
import matplotlib.pyplot as plt

from anode_plugin import AugmentedNeuralODE, MLPVectorField
from anode_plugin.datasets import ConcentricSpheresDataModule
from anode_plugin.lightning import ANODEModule, NFEBudget, NFECallback

parser = argparse.ArgumentParser(description="Lightning with NFECallback and NFEBudget.")
parser.add_argument("--fast", action="store_true", help="a few seconds: 2 epochs, budget 10")
parser.add_argument("--budget", type=int, default=40, help="max forward NFE per step")
parser.add_argument("--out", type=Path, default=Path("example-output/lightning"))
args = parser.parse_args()
epochs, budget = (2, 10) if args.fast else (30, args.budget)
num_train = 128 if args.fast else 1024
args.out.mkdir(parents=True, exist_ok=True)

fig, ax = plt.subplots(figsize=(5, 3.5))
for name, p in [("NODE", 0), ("ANODE", 1)]:
    pl.seed_everything(0, verbose=False)
    ode = AugmentedNeuralODE(MLPVectorField(2 + p, 32), augment_dims=p)
    model = ANODEModule(ode, num_outputs=2, feature_dim=2 + p, lr=1e-3)
    nfe, stop = NFECallback(), NFEBudget(max_forward=budget, on_exceed="stop")
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        default_root_dir=args.out / name,  # checkpoints, the budget's among them
        logger=False,
        callbacks=[nfe, stop],
        enable_progress_bar=not args.fast,
        enable_model_summary=False,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", ".*NFEBudget.*")  # reported below instead
        trainer.fit(
            model,
            ConcentricSpheresDataModule(
                num_inner=num_train // 2, num_outer=num_train // 2, num_val=64, labels="classes"
            ),
        )

    nfe.history.to_csv(args.out / f"nfe_{name}.csv")  # one row per step
    steps = [s.global_step for s in nfe.history]
    ax.plot(steps, [s.nfe_forward for s in nfe.history], label=name)
    if stop.checkpoint_path is not None:
        where = f"step {stop.exceeded_steps[0]}; checkpoint {stop.checkpoint_path}"
        print(f"{name}: over the budget at {where}")
    else:
        last = nfe.history[-1]
        print(f"{name}: {len(steps)} steps within the budget, last forward NFE {last.nfe_forward}")

ax.axhline(budget, color="grey", ls="--", label="budget")
ax.set(xlabel="training step", ylabel="forward NFE")
ax.legend()
fig.tight_layout()
fig.savefig(args.out / "nfe.png", dpi=100)
print(f"wrote {args.out}")
