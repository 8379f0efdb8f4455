"""``Augmenter``: round trip, equality with torchdyn's, and argument errors."""

from __future__ import annotations

import warnings

import pytest
import torch
import torchdyn.nn
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from anode_plugin import Augmenter

pytestmark = pytest.mark.numerics


@st.composite
def augment_cases(draw):
    """A random tensor and Augmenter arguments that fit it."""
    shape = draw(st.lists(st.integers(1, 4), min_size=2, max_size=4))
    idx = draw(st.integers(-len(shape), len(shape) - 1))
    dims = draw(st.integers(0, 4))
    order = draw(st.sampled_from(["first", "last"]))
    seed = draw(st.integers(0, 2**16))
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    return x, idx, dims, order


@settings(max_examples=60, deadline=None)
@given(augment_cases())
def test_strip_undoes_augmentation(case):
    x, idx, dims, order = case
    aug = Augmenter(idx, dims, order=order)
    z = aug(x)
    expected = list(x.shape)
    expected[idx] += dims
    assert list(z.shape) == expected
    assert torch.equal(aug.strip(z), x)
    # The added entries are zeros, on the side `order` asks for.
    n = x.shape[idx]
    extra = z.narrow(idx % x.ndim, 0 if order == "first" else n, dims)
    assert torch.count_nonzero(extra) == 0


@settings(max_examples=60, deadline=None)
@given(augment_cases())
def test_same_output_as_torchdyn(case):
    x, idx, dims, order = case
    ours = Augmenter(idx, dims, None, order)
    theirs = torchdyn.nn.Augmenter(idx, dims, None, order)
    assert torch.equal(ours(x), theirs(x))


@pytest.mark.parametrize("order", ["first", "last"])
def test_same_output_as_torchdyn_with_augment_func(order):
    torch.manual_seed(0)
    func = nn.Linear(3, 4)
    x = torch.randn(5, 3)
    ours = Augmenter(1, 7, func, order)
    theirs = torchdyn.nn.Augmenter(1, 7, func, order)
    # torchdyn ignores augment_dims=7 without a word; ours gives the same output, warned.
    with pytest.warns(UserWarning, match=_SIZE_WARNING.format(got=4, given=7)):
        out = ours(x)
    assert torch.equal(out, theirs(x))
    assert out.shape == (5, 7)  # augment_func's output decides the size, not augment_dims
    assert torch.equal(ours.strip(out), x)


_SIZE_WARNING = (
    r"^`augment_func` returned {got} augmented entries along dimension 1, but "
    r"`augment_dims`={given}; the function's output sets the size \(as in torchdyn\), so "
    r"the state grows by {got}\. Make it return {given}, or leave `augment_dims` out\.$"
)


def test_augment_func_size_is_warned_about_once_and_never_when_it_matches():
    x = torch.randn(8, 2)
    aug = Augmenter(augment_dims=3, augment_func=nn.Linear(2, 7))
    with pytest.warns(UserWarning, match=_SIZE_WARNING.format(got=7, given=3)):
        assert aug(x).shape == (8, 9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        aug(x)  # the same size again: said once
        Augmenter(augment_dims=7, augment_func=nn.Linear(2, 7))(x)  # matches
        Augmenter(augment_func=nn.Linear(2, 7))(x)  # torchdyn's default: the func decides


def test_augment_func_must_keep_the_other_dimensions():
    with pytest.raises(
        ValueError,
        match=r"^`augment_func` must return the input's shape except along `augment_idx`=1; ",
    ):
        Augmenter(augment_func=lambda v: v[:4])(torch.randn(8, 2))


def test_an_augmentation_too_large_to_allocate_names_augment_dims():
    with pytest.raises(
        ValueError,
        match=r"^`augment_dims`=1000000000000 needs 2.98e\+04 GiB of zeros for an input of shape "
        r"\(8, 2\), more than this device can allocate; the paper uses 1 to 10 \(5 for images\)\.$",
    ):
        Augmenter(augment_dims=10**12)(torch.randn(8, 2))


@pytest.mark.parametrize("order", ["first", "last"])
def test_same_output_as_torchdyn_on_images(order):
    torch.manual_seed(1)
    x = torch.randn(2, 3, 5, 4)
    func = nn.Conv2d(3, 2, kernel_size=1)
    for f in (None, func):
        ours, theirs = Augmenter(1, 6, f, order), torchdyn.nn.Augmenter(1, 6, f, order)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # func gives 2, not 6: warned, tested above
            assert torch.equal(ours(x), theirs(x))
    assert Augmenter(1, 6, None, order)(x).shape == (2, 9, 5, 4)


def test_defaults_match_torchdyn():
    ours, theirs = Augmenter(), torchdyn.nn.Augmenter()
    for name in ("augment_idx", "augment_dims", "augment_func", "order"):
        assert getattr(ours, name) == getattr(theirs, name)


def test_zeros_follow_the_input_dtype():
    x = torch.randn(3, 2, dtype=torch.float64)
    z = Augmenter(1, 4, order="last")(x)
    assert z.dtype == torch.float64
    assert z.device == x.device
    assert torch.equal(z[:, 2:], torch.zeros(3, 4, dtype=torch.float64))


def test_strip_returns_a_view_on_the_same_device_and_dtype():
    x = torch.randn(3, 2, dtype=torch.float64)
    aug = Augmenter(1, 2, order="first")
    stripped = aug.strip(aug(x))
    assert stripped.dtype == torch.float64
    assert torch.equal(stripped, x)


def test_empty_sequential_augment_func_is_honoured():
    # torchdyn tests `not self.augment_func`: an empty nn.Sequential has len 0, so torchdyn
    # silently ignores it and adds zeros instead. Ours calls it (identity here).
    x = torch.randn(4, 2)
    with pytest.warns(UserWarning, match="but `augment_dims`=3"):
        ours = Augmenter(1, 3, nn.Sequential(), "last")(x)
    theirs = torchdyn.nn.Augmenter(1, 3, nn.Sequential(), "last")(x)
    assert torch.equal(ours, torch.cat([x, x], 1))
    assert torch.equal(theirs, torch.cat([x, torch.zeros(4, 3)], 1))


def test_plain_callable_augment_func():
    x = torch.randn(4, 2)
    aug = Augmenter(1, augment_func=lambda v: v.sum(1, keepdim=True), order="first")
    z = aug(x)
    assert torch.equal(z[:, 0], x.sum(1))
    assert torch.equal(aug.strip(z), x)


def test_strip_before_augment_func_has_run_needs_original_size():
    aug = Augmenter(1, 0, nn.Linear(2, 3), "last")
    z = torch.randn(4, 5)
    with pytest.raises(
        ValueError,
        match=r"^`strip` cannot tell the augmented size of an `augment_func` it has not run "
        r"yet; call the augmenter first or pass `original_size`\.$",
    ):
        aug.strip(z)
    assert torch.equal(aug.strip(z, original_size=2), z[:, :2])
    # Every entry may be augmented (original size 0), but not more than there are.
    assert aug.strip(z, original_size=0).shape == (4, 0)
    with pytest.raises(ValueError, match=r"^`original_size` must be a non-negative integer"):
        aug.strip(z, original_size=-1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"augment_dims": -1}, r"`augment_dims` must be a non-negative integer, got -1"),
        ({"augment_dims": 2.0}, r"`augment_dims` must be a non-negative integer, got 2\.0"),
        ({"augment_dims": True}, r"`augment_dims` must be a non-negative integer, got True"),
        ({"augment_dims": "3"}, r"`augment_dims` must be a non-negative integer, got '3'"),
        ({"order": "middle"}, r"`order` must be one of \['first', 'last'\], got 'middle'"),
        ({"augment_idx": 1.5}, r"`augment_idx` must be an integer, got 1\.5"),
        ({"augment_func": 3}, r"`augment_func` must be a module or callable, or None, got 3"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Augmenter(**kwargs)


@pytest.mark.parametrize("idx", [2, 5, -3])
def test_augment_idx_outside_the_input(idx):
    aug = Augmenter(idx, 1)
    with pytest.raises(
        ValueError,
        match=rf"`augment_idx`={idx} is outside the dimensions of an input of shape \(4, 2\); "
        r"allowed: -2 to 1",
    ):
        aug(torch.zeros(4, 2))


def test_strip_too_many_entries():
    aug = Augmenter(1, 5)
    with pytest.raises(ValueError, match=r"Cannot strip 5 augmented entries from dimension 1"):
        aug.strip(torch.zeros(2, 3))
