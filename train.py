"""Train a model: `python train.py [model=unet|pix2pix] [data=synthetic|drive] [key=value ...]`.

Composes conf/config.yaml, checks the data, creates experiment/<exp_name>/ with the resolved
params.yaml, then fits with Lightning. Heavy libraries are imported inside main(), so `--help`
and `--cfg job` answer at once.
"""

import logging

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from data.manifest import DataError
from utils.branch import branch_warnings
from utils.experiment import (
    ExperimentError,
    create_experiment_dir,
    exit_cleanly_on,
    instantiate_each,
    log_lightning_once,
    log_to_file,
    register_resolvers,
    write_params,
)

log = logging.getLogger("train")
register_resolvers()


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
@exit_cleanly_on(DataError, ExperimentError)
def main(cfg: DictConfig) -> float | None:
    import lightning as L
    from hydra.utils import instantiate

    log_lightning_once()

    # Check the data before anything is written: a missing dataset stops here.
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")

    exp_dir = create_experiment_dir(cfg)
    write_params(cfg, HydraConfig.get().overrides.task, exp_dir / "params.yaml")
    log_to_file(exp_dir / "log" / "train.log")
    log.info("Experiment %s: %s", cfg.exp_name, exp_dir)
    for warning in branch_warnings(cfg.model.name, cfg.data.name, cfg.data.augment):
        log.warning(warning)

    L.seed_everything(cfg.seed, workers=True)
    model = instantiate(cfg.model)
    loggers = instantiate_each(cfg.logger)
    trainer = instantiate(
        cfg.trainer, logger=loggers or False, callbacks=instantiate_each(cfg.callbacks)
    )
    for logger in trainer.loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    trainer.fit(model, datamodule=datamodule)

    best = trainer.checkpoint_callback.best_model_score if trainer.checkpoint_callback else None
    log.info(
        "Done. Checkpoints in %s; evaluate with: python test.py exp_name=%s",
        exp_dir / "model",
        cfg.exp_name,
    )
    return None if best is None else float(best)


if __name__ == "__main__":
    main()
