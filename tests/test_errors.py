"""The package's exceptions: hierarchy, export, and the messages users see."""

from __future__ import annotations

import pickle

import pytest
import torch
from helpers import LinearField

import anode_plugin
from anode_plugin import (
    AugmentedNeuralODE,
    MLPVectorField,
    NFEBudgetExceeded,
    NonFiniteStateError,
    SolverError,
    StateShapeError,
    StepSizeUnderflowError,
)


@pytest.mark.parametrize(
    ("error", "base"),
    [
        (NFEBudgetExceeded, RuntimeError),
        (NonFiniteStateError, RuntimeError),
        (StepSizeUnderflowError, RuntimeError),
        (SolverError, RuntimeError),
        (StateShapeError, ValueError),
    ],
)
def test_errors_subclass_builtins_and_are_exported(error, base):
    assert issubclass(error, base)
    assert error.__name__ in anode_plugin.__all__


def test_budget_error_message_and_pickle():
    error = NFEBudgetExceeded(1201, 1000)
    assert "1201 forward evaluations" in str(error)
    assert "max_nfe=1000" in str(error)
    clone = pickle.loads(pickle.dumps(error))
    assert (clone.nfe, clone.budget, str(clone)) == (1201, 1000, str(error))


def test_budget_error_is_caught_as_runtime_error():
    model = AugmentedNeuralODE(LinearField(-1000.0), 0, atol=1e-8, rtol=1e-8, max_nfe=20)
    with pytest.raises(RuntimeError, match=r"after 21 forward evaluations.*max_nfe=20"):
        model.features(torch.ones(1, 1))


def test_field_returning_the_wrong_shape():
    model = AugmentedNeuralODE(lambda x: x[:, :1], 1)
    with pytest.raises(StateShapeError, match=r"returned shape \(3, 1\) for a state of shape"):
        model(torch.randn(3, 1))


def test_field_without_state_argument():
    with pytest.raises(TypeError, match=r"takes no state argument"):
        AugmentedNeuralODE(lambda: 0, 0)


def test_non_callable_field():
    with pytest.raises(TypeError, match=r"`vector_field` must be a module or callable, got int"):
        AugmentedNeuralODE(3, 0)


def test_state_size_mismatch_names_augment_dims():
    model = AugmentedNeuralODE(MLPVectorField(2), 3)
    with pytest.raises(StateShapeError, match=r"augment_dims"):
        model(torch.randn(4, 2))


def test_save_at_is_refused_rather_than_ignored():
    model = AugmentedNeuralODE(MLPVectorField(3, 8), 1)
    with pytest.raises(ValueError, match="`save_at` is not supported"):
        model(torch.randn(2, 2), save_at=(0.5,))
