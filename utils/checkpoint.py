"""The callback that keeps model/last.ckpt current, so that `resume=true` loses little work."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException

log = logging.getLogger(__name__)


class LastCheckpoint(L.Callback):
    """Save the full training state to `<dirpath>/last.ckpt`.

    It saves every `every_n_train_batches` batches, at the end of every epoch, and when the run
    is stopped by Ctrl+C or SIGTERM (what clusters send before pre-emption). A SIGKILL cannot be
    caught, so it loses the batches since the last save. Each save goes to a temporary file that
    then replaces last.ckpt, so a kill during a save never leaves a truncated checkpoint.
    """

    def __init__(self, dirpath: str, every_n_train_batches: int | None = 100) -> None:
        self.path = Path(dirpath) / "last.ckpt"
        self.every = every_n_train_batches

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        batches = trainer.fit_loop.epoch_loop.total_batch_idx + 1
        if self.every and batches % self.every == 0:
            self.save(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.save(trainer)

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        if isinstance(exception, KeyboardInterrupt | SIGTERMException):
            self.save(trainer)
            log.warning(
                "Stopped at epoch %d, step %d; saved %s. Continue with resume=true.",
                trainer.current_epoch,
                trainer.global_step,
                self.path,
            )

    def save(self, trainer: L.Trainer) -> None:
        """Write last.ckpt atomically (every rank takes part; rank 0 writes)."""
        temporary = self.path.with_name("last.ckpt.tmp")
        trainer.save_checkpoint(temporary, weights_only=False)  # the full state, to resume
        if trainer.is_global_zero:
            os.replace(temporary, self.path)
