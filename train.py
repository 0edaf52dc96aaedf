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
    """Fit the model of `cfg` into experiment/<exp_name>/; return the best value of the
    task's monitored score (what sweeps optimise)."""
    import lightning as L

    from bookkeeping.build import build, build_each
    from bookkeeping.experiment import log_lightning_once, open_experiment, plan_run
    from utils.engine.distributed import every_rank_or_none, join_ranks, local_rank
    from utils.engine.precision import pick_precision

    log_lightning_once()
    join_ranks()  # processes started by torchrun or srun: none may stop without the others
    with every_rank_or_none():
        pick_precision(cfg.trainer)  # trainer.precision=auto: params.yaml records the pick
        run = plan_run(cfg)  # a taken name stops here, before anything is built
        datamodule = build(cfg.data, "data", overrides)
        if local_rank() == 0:
            datamodule.prepare_data()  # once per machine: the others wait for it here
    # Everything a bad value can break is built before the experiment folder is claimed.
    with every_rank_or_none():
        # Each DDP process draws its own patches; DDP starts every copy from rank 0's weights.
        L.seed_everything(cfg.seed + run.rank, workers=True)
        datamodule.prepare_data()
        datamodule.setup("fit")
        model = build(cfg.model, "model", overrides)
        trainer = build(
            cfg.trainer,
            "trainer",
            overrides,
            logger=run.build_loggers(cfg.logger, overrides) or False,
            callbacks=build_each(cfg.callbacks, "callbacks", overrides),
        )
    with open_experiment(run, cfg, overrides, datamodule.training_statistics()):
        for logger in trainer.loggers:
            logger.log_hyperparams(run.hyperparameters)
        trainer.fit(model, datamodule=datamodule, ckpt_path=run.checkpoint, weights_only=True)
        return run.finish(trainer)


if __name__ == "__main__":
    main()
