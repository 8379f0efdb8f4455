"""Lightning's CSV logger with ``hparams.yaml`` written whole or not at all."""

from __future__ import annotations

import os
from typing import Any

from lightning.fabric.utilities.cloud_io import _is_local_file_protocol
from lightning.pytorch.core.saving import save_hparams_to_yaml
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment
from typing_extensions import override

from .._atomic import atomic_path

__all__ = ["AtomicCSVLogger"]


class _AtomicExperimentWriter(ExperimentWriter):
    @override
    def log_hparams(self, params: dict[str, Any]) -> None:
        self.hparams.update(params)
        path = os.path.join(self.log_dir, self.NAME_HPARAMS_FILE)
        if not _is_local_file_protocol(path):  # a rename is not atomic on remote storage
            save_hparams_to_yaml(path, self.hparams)
            return
        # Lightning opens hparams.yaml with "w" first: a full disk on a resumed run left
        # it empty. Here the old file stays until the new one is whole.
        with atomic_path(path) as partial:
            save_hparams_to_yaml(partial, self.hparams)


class AtomicCSVLogger(CSVLogger):
    """``CSVLogger`` (same arguments and files) whose ``hparams.yaml`` is written to a
    temporary file and renamed, so a full disk leaves the previous file, never an empty
    one. The ``anode`` command uses it where Lightning would use a ``CSVLogger``.
    """

    @property
    @override
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AtomicExperimentWriter(log_dir=self.log_dir)
        return self._experiment
