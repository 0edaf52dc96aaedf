"""The bookkeeping around one training run: `with open_experiment(plan_run(cfg), cfg, ...) as run:`.

`plan_run(cfg)` checks what can be checked without writing (the name, the folder free, the
checkpoint to resume); train.py then builds data, model, loggers and trainer, so that a bad value
stops the run before anything is written. On entry the block locks and creates
experiment/<exp_name>/ with params.yaml (or reopens it to resume), starts the text log, warns
when the branch contradicts the config, and opens the record. On exit: close the
session in record.yaml (finished, interrupted or failed) and the experiment loggers. Under DDP
every process enters the block, and only rank 0 writes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig

from bookkeeping.build import build, build_each
from bookkeeping.config import name_of, resolved
from bookkeeping.folder import ExperimentError, ExperimentFolder
from bookkeeping.naming import branch_warnings
from bookkeeping.record import new_run_id, read_record, recorded_session, redact

log = logging.getLogger("train")


@dataclass
class Run:
    """What the training code needs to know of the experiment it runs in."""

    folder: ExperimentFolder
    checkpoint: Path | None  # model/last.ckpt to continue from (resume=true), else None
    run_id: str | None  # None on ranks other than 0, which write nothing
    rank: int
    hyperparameters: dict = field(default_factory=dict)  # params.yaml's content, for the loggers
    session: dict = field(default_factory=dict)  # this session's entry in record.yaml
    loggers: list = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # where the branch contradicts the config

    def build_loggers(self, group: DictConfig | None, overrides: list[str] = ()) -> list:
        """The experiment loggers of `group` (nothing written yet); one with an `id` key (W&B)
        gets this run's id, so a resumed run continues the same W&B run."""
        self.loggers = build_each(group, "logger", overrides, given={"id": self.run_id})
        return self.loggers

    def finish(self, trainer: Any) -> float | None:
        """Record the final metrics and the model's size; return the best validation score (what
        sweeps optimise)."""
        self.session["metrics"] = {k: float(v) for k, v in trainer.callback_metrics.items()}
        self.session["parameters"] = sum(p.numel() for p in trainer.lightning_module.parameters())
        log.info("Final metrics (rank %d): %s", self.rank, self.session["metrics"])
        log.info(
            "Done. Checkpoints in %s; evaluate with: python test.py exp_name=%s",
            self.folder.model_dir,
            self.folder.name,
        )
        best = trainer.checkpoint_callback.best_model_score if trainer.checkpoint_callback else None
        return None if best is None else float(best)


def hyperparameters(cfg: DictConfig) -> dict:
    """The resolved configuration, with the values of secret-named keys replaced: params.yaml,
    and what the loggers receive."""
    return redact(resolved(cfg))


def plan_run(cfg: DictConfig) -> Run:
    """The run of `cfg` as far as it can be known without writing anything: its folder (the
    name checked), the checkpoint it resumes from, its id. An existing folder stops it here,
    before any data or model is built, unless it is resumed or overwritten."""
    from utils.engine.distributed import global_rank

    folder = ExperimentFolder(cfg.paths.experiment_root, cfg.exp_name)
    checkpoint = resume_checkpoint(folder) if cfg.resume else None
    rank = global_rank(cfg.trainer.get("devices", 1))
    run_id = None
    if rank == 0:
        if checkpoint is None and folder.occupied():
            if not cfg.overwrite:
                raise folder.exists_error()
            folder.check_removable()  # a link or a stranger's folder stops the run here
        run_id = (checkpoint and read_record(folder).get("run_id")) or new_run_id()
    # Read here, before the folder is claimed: a value the task cannot name stops the run now.
    warnings = branch_warnings(*name_of(cfg))
    return Run(folder, checkpoint, run_id, rank, hyperparameters(cfg), warnings=warnings)


@contextmanager
def open_experiment(
    run: Run, cfg: DictConfig, overrides: list[str], data_statistics: dict | None = None
) -> Iterator[Run]:
    """Claim the experiment folder of `run` around a training run (see the module docstring).

    The folder is locked for the whole block, so a second run of the same name (overwrite=true
    or not) stops with a message instead of deleting this one's files. `data_statistics` of the
    training split are kept beside params.yaml for test.py and predict.py.
    """
    from utils.engine.distributed import every_rank_or_none

    folder = run.folder
    with ExitStack() as claimed:
        with every_rank_or_none():  # a folder that cannot be claimed stops every rank
            if run.rank == 0:
                claimed.enter_context(folder.locked())
                params_text = yaml.safe_dump(run.hyperparameters, sort_keys=False)
                if run.checkpoint is None:
                    folder.create(params_text, overwrite=bool(cfg.overwrite))
                else:
                    folder.params.write_text(params_text)  # trainer.max_epochs may have changed
                if data_statistics is not None:
                    text = json.dumps(data_statistics, indent=2) + "\n"
                    folder.data_statistics.write_text(text)
        if run.rank != 0:
            try:
                yield run
            finally:
                close_loggers(run.loggers)
            return
        with log_to_file(folder.text_log):
            resuming = f"resuming {run.checkpoint}" if run.checkpoint else folder.path
            log.info("Experiment %s: %s", folder.name, resuming)
            for warning in run.warnings:
                log.warning(warning)
            data_root = Path(cfg.data.root)
            with recorded_session(
                folder, data_root, overrides, run.run_id, bool(run.checkpoint)
            ) as session:
                run.session = session
                try:
                    yield run
                finally:
                    close_loggers(run.loggers)


def resume_checkpoint(folder: ExperimentFolder) -> Path:
    """model/last.ckpt of an experiment being resumed, checked to be a readable checkpoint."""
    from utils.engine.checkpoint import read_checkpoint

    path = folder.last_checkpoint
    if not path.is_file():
        raise ExperimentError(
            f"{path} does not exist: the run stopped before its first checkpoint, so there is "
            "nothing to continue. Start it again with overwrite=true."
        )
    read_checkpoint(path)
    return path


def close_loggers(loggers: list) -> None:
    """End each logger's run. W&B keeps one open run per process, and in a `-m` sweep (one
    process, many jobs) the next job's logger would attach to it instead of starting its own."""
    for logger in loggers:
        if type(logger).__name__ == "WandbLogger":
            import wandb

            if wandb.run is not None:
                wandb.finish()


def log_lightning_once() -> None:
    """Print each Lightning message once: on import it adds a console handler of its own beside
    the root one that Hydra configured. Its messages still reach the root's handlers (and files),
    except its advertisements for cloud services, which tell a user nothing about the run."""
    import lightning  # noqa: F401  (sets up its logger on import)

    logging.getLogger("lightning").handlers.clear()
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _NoAdverts) for f in rank_zero.filters):
        rank_zero.addFilter(_NoAdverts())


class _NoAdverts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")


@contextmanager
def log_to_file(path: Path) -> Iterator[None]:
    """Copy everything logged inside the block into a text log, e.g. log/train.log."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()


def trained_experiment(cfg: DictConfig, script: str) -> tuple[ExperimentFolder, DictConfig, Path]:
    """The trained experiment a test.py or predict.py run names (exp_name=, checkpoint=): its
    folder, its params.yaml and the checkpoint, each checked with a message that says the fix."""
    if not cfg.exp_name:
        raise ExperimentError(
            f"say which experiment: python {script} exp_name=<name> "
            f"(a folder of {cfg.paths.experiment_root}/)."
        )
    folder = ExperimentFolder(cfg.paths.experiment_root, cfg.exp_name)
    return folder, folder.load_params(), folder.checkpoint(cfg.checkpoint)


def trained_model(params: DictConfig, checkpoint: Path) -> Any:
    """The experiment's model, built from its params.yaml, with the weights of `checkpoint`."""
    from utils.engine.checkpoint import load_weights

    log_lightning_once()
    model = build(params.model, "model")
    load_weights(model, checkpoint)
    return model
