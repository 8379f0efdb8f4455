"""Silence Lightning's banners and data-loader advice while many small fits run."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

__all__ = ["quiet_lightning"]

_LOGGERS = ("lightning", "lightning.pytorch")
# Advice that is noise for small in-memory data sets, repeated by every Trainer.
_ADVICE = (".*does not have many workers.*", ".*number of training batches.*")


@contextlib.contextmanager
def quiet_lightning(*messages: str, level: int = logging.WARNING) -> Iterator[None]:
    """Raise Lightning's loggers to ``level`` and ignore its data-loader advice, for a while.

    On exit the loggers' levels and the warnings filters are what they were before.

    Args:
        *messages: regular expressions of further warning messages to ignore.
        level: the loggers' level inside the block; ``logging.WARNING`` hides the
            per-Trainer banners (GPU available, model summary).
    """
    loggers = [logging.getLogger(name) for name in _LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(level)
    try:
        with warnings.catch_warnings():
            for message in (*_ADVICE, *messages):
                warnings.filterwarnings("ignore", message=message)
            yield
    finally:
        for logger, previous in zip(loggers, levels, strict=True):
            logger.setLevel(previous)
