"""Train a model: `python train.py [model=unet|pix2pix] [data=synthetic|drive] [key=value ...]`.

Composes conf/train.yaml, checks the data, opens experiment/<exp_name>/ (params.yaml, log/,
model/, result/, record.yaml), then fits with Lightning. `resume=true` continues an experiment
from its model/last.ckpt; `repeat_of=<exp>` trains again with another experiment's settings.
Heavy libraries are imported inside train(), so `--help` and `--cfg job` answer at once.
"""

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from bookkeeping.config import load_env_file, register_resolvers, run_config
from utils.base import UserError, exit_cleanly_on

register_resolvers()


@hydra.main(config_path="conf", config_name="train", version_base="1.3")
@exit_cleanly_on(UserError)
def main(cfg: DictConfig) -> float | None:
    load_env_file()  # .env: secrets such as WANDB_API_KEY, kept out of every record
    job = HydraConfig.get()
    sweeping = job.mode == RunMode.MULTIRUN
    cfg, overrides = run_config(
        cfg, list(job.overrides.task), job.job.override_dirname if sweeping else None
    )
    return train(cfg, overrides)


def train(cfg: DictConfig, overrides: list[str]) -> float | None:
    """Fit the model of `cfg` into experiment/<exp_name>/; return the best validation F1."""
    import lightning as L
    from hydra.utils import instantiate

    from bookkeeping.experiment import log_lightning_once, open_experiment
    from utils.base import instantiate_each
    from utils.precision import pick_precision

    log_lightning_once()
    pick_precision(cfg.trainer)  # trainer.precision=auto: params.yaml records what was picked
    # Check the data before anything is written: a missing dataset stops here.
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")

    with open_experiment(cfg, overrides, datamodule.training_statistics()) as run:
        # Each DDP process draws its own patches; DDP starts every copy from rank 0's weights.
        L.seed_everything(cfg.seed + run.rank, workers=True)
        model = instantiate(cfg.model)
        trainer = instantiate(
            cfg.trainer,
            logger=run.build_loggers(cfg.logger) or False,
            callbacks=instantiate_each(cfg.callbacks),
        )
        for logger in trainer.loggers:
            logger.log_hyperparams(run.hyperparameters)
        trainer.fit(model, datamodule=datamodule, ckpt_path=run.checkpoint, weights_only=True)
        return run.finish(trainer)


if __name__ == "__main__":
    main()
