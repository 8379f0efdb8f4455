"""`quiet_lightning` silences Lightning inside its block and restores everything after."""

from __future__ import annotations

import logging
import warnings

import pytest
import torch

from anode_plugin._tf32 import enable_tf32
from anode_plugin.lightning._quiet import quiet_lightning


@pytest.fixture
def lightning_levels():
    loggers = [logging.getLogger(name) for name in ("lightning", "lightning.pytorch")]
    before = [logger.level for logger in loggers]
    loggers[0].setLevel(logging.INFO)
    loggers[1].setLevel(logging.DEBUG)
    yield loggers
    for logger, level in zip(loggers, before, strict=True):
        logger.setLevel(level)


def test_loggers_are_raised_inside_and_restored_after(lightning_levels):
    with quiet_lightning(level=logging.ERROR):
        assert [logger.level for logger in lightning_levels] == [logging.ERROR] * 2
    assert [logger.level for logger in lightning_levels] == [logging.INFO, logging.DEBUG]


def test_levels_are_restored_when_the_block_raises(lightning_levels):
    with pytest.raises(RuntimeError, match="boom"), quiet_lightning():
        raise RuntimeError("boom")
    assert [logger.level for logger in lightning_levels] == [logging.INFO, logging.DEBUG]


def test_advice_and_named_messages_are_ignored_inside_only():
    filters = list(warnings.filters)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with quiet_lightning(".*across ranks is zero.*"):
            warnings.warn("The 'train_dataloader' does not have many workers", stacklevel=1)
            warnings.warn("Total length of `x` across ranks is zero", stacklevel=1)
            warnings.warn("something else", stacklevel=1)
        warnings.warn("The 'val_dataloader' does not have many workers", stacklevel=1)
    assert [str(w.message) for w in caught] == [
        "something else",
        "The 'val_dataloader' does not have many workers",
    ]
    assert warnings.filters == filters


def test_enable_tf32_sets_the_float32_matmul_precision():
    before = (
        torch.get_float32_matmul_precision(),
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
    )
    try:
        enable_tf32()
        assert torch.get_float32_matmul_precision() == "high"
        assert torch.backends.cuda.matmul.allow_tf32
        assert torch.backends.cudnn.allow_tf32
    finally:
        torch.set_float32_matmul_precision(before[0])
        torch.backends.cuda.matmul.allow_tf32 = before[1]
        torch.backends.cudnn.allow_tf32 = before[2]
