"""The mean ± standard deviation of repeated runs, as numbers and as a table cell."""

from __future__ import annotations

import pytest

from anode_plugin._summary import format_mean_std, mean_std


def test_mean_std_is_the_sample_standard_deviation():
    mean, std = mean_std([1.0, 2.0, 3.0, 4.0])
    assert mean == pytest.approx(2.5)
    assert std == pytest.approx(1.2909944487)  # ddof=1, not 1.118 (ddof=0)


def test_mean_std_of_one_run_has_no_spread():
    assert mean_std([7.0]) == (7.0, 0.0)


def test_format_mean_std_skips_missing_runs_and_formats_both_numbers():
    assert format_mean_std([1.0, None, 3.0], ".1f") == "2.0 ± 1.4"
    assert format_mean_std([0.123456]) == "0.123"
    assert format_mean_std([None, None]) == "-"
    assert format_mean_std([]) == "-"
