"""Train a model: `python train.py [model=unet|pix2pix] [data=synthetic|drive] [key=value ...]`.

Composes conf/config.yaml, checks the data, creates experiment/<exp_name>/ with the resolved
params.yaml and a record of the run, then fits with Lightning. `resume=true` continues an
experiment from its model/last.ckpt. Heavy libraries are imported inside train(), so `--help`
and `--cfg job` answer at once.
"""

import logging
from contextlib import nullcontext
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from data.manifest import DataError
from utils.branch import branch_warnings
from utils.experiment import (
    ExperimentError,
    create_experiment_dir,
    exit_cleanly_on,
    instantiate_each,
    log_lightning_once,
    log_to_file,
    new_run_id,
    register_resolvers,
    resolved_params,
    resume_checkpoint,
    resume_config,
    write_params,
)

log = logging.getLogger("train")
register_resolvers()


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
@exit_cleanly_on(DataError, ExperimentError)
def main(cfg: DictConfig) -> float | None:
    overrides = list(HydraConfig.get().overrides.task)
    if cfg.resume == "auto":  # a requeued cluster job: continue if there is anything to continue
        cfg.resume = (Path(cfg.paths.model_dir) / "last.ckpt").is_file()
    if cfg.resume:  # continue the run as recorded, whatever conf/ says now
        cfg = resume_config(cfg, overrides)
        overrides = list(cfg.overrides)
    return train(cfg, overrides)


def train(cfg: DictConfig, overrides: list[str]) -> float | None:
    """Fit the model of `cfg` into experiment/<exp_name>/; return the best validation F1."""
    import lightning as L
    from hydra.utils import instantiate
    from lightning.pytorch.utilities import rank_zero_only

    from utils.record import recorded_session

    log_lightning_once()

    # Check the data before anything is written: a missing dataset stops here.
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")

    exp_dir = Path(cfg.paths.experiment_dir)
    checkpoint = resume_checkpoint(exp_dir) if cfg.resume else None
    # Under DDP each device's process runs this script; only the first writes the folder.
    writer = rank_zero_only.rank == 0
    if writer:
        if checkpoint is None:
            create_experiment_dir(cfg)
            cfg.run_id = new_run_id()
        write_params(cfg, overrides, exp_dir / "params.yaml")
        log_to_file(exp_dir / "log" / "train.log")
        log.info(
            "Experiment %s: %s", cfg.exp_name, f"resuming {checkpoint}" if checkpoint else exp_dir
        )
        for warning in branch_warnings(cfg.model.name, cfg.data.name, cfg.data.augment):
            log.warning(warning)

    # Each DDP process draws its own random patches; DDP starts every copy from rank 0's weights.
    L.seed_everything(cfg.seed + rank_zero_only.rank, workers=True)
    model = instantiate(cfg.model)
    loggers = instantiate_each(cfg.logger)
    trainer = instantiate(
        cfg.trainer, logger=loggers or False, callbacks=instantiate_each(cfg.callbacks)
    )
    for logger in trainer.loggers:
        logger.log_hyperparams(resolved_params(cfg, overrides))
    record = recorded_session(exp_dir, Path(cfg.data.root), bool(checkpoint)) if writer else None
    with record or nullcontext({}) as session:
        trainer.fit(model, datamodule=datamodule, ckpt_path=checkpoint, weights_only=True)
        session["metrics"] = {k: float(v) for k, v in trainer.callback_metrics.items()}
    log.info("Final metrics (rank %d): %s", rank_zero_only.rank, session["metrics"])

    best = trainer.checkpoint_callback.best_model_score if trainer.checkpoint_callback else None
    log.info(
        "Done. Checkpoints in %s; evaluate with: python test.py exp_name=%s",
        exp_dir / "model",
        cfg.exp_name,
    )
    return None if best is None else float(best)


if __name__ == "__main__":
    main()
