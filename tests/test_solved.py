"""``SolvedModel``: the flat solve options declared once, shared by both models."""

from __future__ import annotations

import inspect

import pytest
import torch

from anode_plugin import AugmentedCNF, AugmentedNeuralODE, MLPVectorField
from anode_plugin._solved import FLAT_SOLVE_OPTIONS, SolvedModel, flat_solve_options
from anode_plugin.solve._options import solve_from_options

DEFAULTS = {
    name: parameter.default
    for name, parameter in inspect.signature(solve_from_options).parameters.items()
}


def test_the_options_are_the_solves_and_include_the_backend():
    assert tuple(DEFAULTS) == FLAT_SOLVE_OPTIONS
    assert {"backend", "solver", "sensitivity", "seminorm"} <= set(FLAT_SOLVE_OPTIONS)


@pytest.mark.parametrize(
    ("model", "absent"), [(AugmentedNeuralODE, set()), (AugmentedCNF, {"interpolator"})]
)
def test_each_model_takes_the_flat_options_with_the_solves_defaults(model, absent):
    # A new option declared in solve_from_options and forgotten in a model's signature,
    # or a default that drifted, fails here.
    parameters = inspect.signature(model).parameters
    assert set(FLAT_SOLVE_OPTIONS) - set(parameters) == absent
    for name in set(FLAT_SOLVE_OPTIONS) - absent:
        assert parameters[name].default == DEFAULTS[name], name


def test_flat_solve_options_picks_the_options_only():
    arguments = {"solver": "rk4", "atol": 1e-3, "vector_field": None, "augment_dims": 2}
    assert flat_solve_options(arguments) == {"solver": "rk4", "atol": 1e-3}


def test_both_models_count_their_solves_the_same_way():
    torch.manual_seed(0)
    ode = AugmentedNeuralODE(MLPVectorField(3, activation="tanh"), augment_dims=1)
    flow = AugmentedCNF(MLPVectorField(3, activation="tanh"), 2, 1)
    x = torch.randn(4, 2)
    for model, run in ((ode, lambda: ode(x)), (flow, lambda: flow.log_prob(x))):
        assert isinstance(model, SolvedModel)
        run()
        last = model.stats.last
        assert last is not None and model.nfe.forward == last.nfe > 0
        assert model.steps.accepted == last.accepted > 0


@pytest.mark.parametrize("max_nfe", [0, -1, 1.5, "x"])
def test_both_models_refuse_a_bad_budget_alike(max_nfe):
    messages = []
    for build in (
        lambda: AugmentedNeuralODE(MLPVectorField(2), augment_dims=0, max_nfe=max_nfe),
        lambda: AugmentedCNF(MLPVectorField(2), 2, 0, max_nfe=max_nfe),
    ):
        with pytest.raises((ValueError, TypeError)) as error:
            build()
        messages.append(str(error.value))
    assert messages[0] == messages[1] and "`max_nfe`" in messages[0]
