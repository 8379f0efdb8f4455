"""ErrorNorm: the RMS norm of a solver's error estimate, over all entries or a leading
block (the seminorm), per sample or over the batch."""

from __future__ import annotations

import pytest
import torch

from anode_plugin.solve import ErrorNorm


@pytest.mark.parametrize(
    ("entries", "match"),
    [
        (-3, r"`entries` must be a positive integer .* got -3"),
        (0, r"`entries` must be a positive integer .* got 0"),
        ("all", r"`entries` must be a positive integer"),
        (True, r"`entries` must be a positive integer"),
    ],
)
def test_a_bad_number_of_entries_is_refused_when_built(entries, match):
    with pytest.raises(ValueError, match=match):
        ErrorNorm(entries)


def test_an_error_norm_measures_its_leading_entries():
    # ErrorNorm(-3) measured all but the last three: 0.0 where the full norm is 5.48.
    error = torch.tensor([0.0] * 7 + [10.0] * 3)
    assert float(ErrorNorm()(error)) == pytest.approx(30**0.5)
    assert float(ErrorNorm(7)(error)) == 0.0
    assert float(ErrorNorm(8)(error)) == pytest.approx((100 / 8) ** 0.5)
    assert float(ErrorNorm(1)(torch.tensor([3.0, 100.0]))) == 3.0  # one entry is allowed
    assert float(ErrorNorm()(torch.full((2, 3), 2.0))) == 2.0  # any shape, flattened


def test_an_error_norm_measures_the_leading_entries_of_each_sample():
    # A state of two or more dimensions holds a sample per index of its first one.
    error = torch.tensor([[1.0, 2.0, 30.0], [3.0, 4.0, 50.0]])
    assert torch.equal(ErrorNorm(2).measured(error), torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert float(ErrorNorm(2)(error)) == pytest.approx((30 / 4) ** 0.5)
    torch.testing.assert_close(  # each sample's own RMS (per-sample step control)
        ErrorNorm(2).per_sample(error), torch.tensor([2.5**0.5, 12.5**0.5]), rtol=0, atol=0
    )
    torch.testing.assert_close(
        ErrorNorm().per_sample(error),
        error.pow(2).mean(1).sqrt(),
        rtol=0,
        atol=0,
    )
    images = torch.arange(2 * 2 * 2 * 2, dtype=torch.float64).view(2, 2, 2, 2)
    assert torch.equal(ErrorNorm(3).measured(images), images.flatten(1)[:, :3])
    # A 1-D state is one sample: its leading entries, whatever its length.
    assert ErrorNorm(2).measured(torch.tensor([1.0, 2.0, 3.0])).shape == (1, 2)
    assert ErrorNorm().measured(torch.tensor(4.0)).shape == (1, 1)
    assert ErrorNorm(2).is_full is False and ErrorNorm().is_full is True
