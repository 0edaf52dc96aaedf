"""Evaluate a trained experiment on the test split: `python test.py exp_name=<name>`.

Rebuilds the model and data from experiment/<exp_name>/params.yaml, loads its best checkpoint
(checkpoint=last or a path for another), and writes what the experiment's task writes (its
result_writer: the worked example's adds a per-image table, prediction and error images to the
scores) to experiment/<exp_name>/result/.

`python test.py exp_name=<name> data=<other>` scores the test split of another dataset instead,
fed as the experiment was trained (the data module gets the statistics it kept at training,
data_statistics.json), into experiment/<exp_name>/result/on_<other>/.
"""

import logging

import hydra
from omegaconf import DictConfig

from bookkeeping.config import load_env_file, register_resolvers
from bookkeeping.folder import ExperimentError, ExperimentFolder
from utils.base import UserError, exit_cleanly_on

log = logging.getLogger("test")
register_resolvers()


@hydra.main(config_path="conf", config_name="test", version_base="1.3")
@exit_cleanly_on(UserError)
def main(cfg: DictConfig) -> dict[str, float]:
    load_env_file()  # .env: secrets such as WANDB_API_KEY, kept out of every record
    from bookkeeping.experiment import trained_experiment, trained_model

    folder, params, checkpoint = trained_experiment(cfg, "test.py")

    from bookkeeping.build import build
    from utils.engine.distributed import global_rank
    from utils.engine.precision import pick_precision

    if global_rank() != 0:  # started by torchrun or srun with several: rank 0 scores alone
        return {}
    model = trained_model(params, checkpoint)
    one_process(cfg.trainer)
    pick_precision(cfg.trainer)
    data = params.data if cfg.tested_on is None else other_dataset(cfg, params)
    # Fed as in training (its normalisation, its statistics), not as today's data folder says.
    datamodule = build(data, "data", trained_with=folder.load_data_statistics())
    datamodule.prepare_data()
    results = folder.on(cfg.tested_on)  # result/, or result/on_<dataset>/
    writer = result_writer(cfg, params, results)
    trainer = build(cfg.trainer, "trainer", logger=False, callbacks=[writer])
    log.info("Testing %s with %s on %s", folder.name, checkpoint, data.name)
    scores = trainer.test(model, datamodule=datamodule, verbose=False)[0]
    if not scores:
        raise ExperimentError(
            f"nothing of the test split was scored, so {folder.result_dir} holds no results; "
            "check trainer.limit_test_batches and the data's test split."
        )
    if not results.metrics.is_file():
        raise ExperimentError(
            f"the task's result writer ({params.task.result_writer._target_}) wrote no "
            f"{results.metrics}: the reports read the scores from there."
        )
    log.info(
        "Test scores: %s",
        ", ".join(f"{k.removeprefix('test/')} {v:.4f}" for k, v in scores.items()),
    )
    log.info("Results in %s", results.test_dir)
    return scores


def other_dataset(cfg: DictConfig, params: DictConfig) -> DictConfig:
    """data=<other>: its config, refused when it is the experiment's own dataset."""
    if cfg.data.name == params.data.name:
        raise ExperimentError(
            f"experiment {cfg.exp_name} was trained on data={params.data.name}: "
            f"python test.py exp_name={cfg.exp_name} scores its test split (without data=)."
        )
    return cfg.data


def result_writer(cfg: DictConfig, params: DictConfig, results: ExperimentFolder) -> object:
    """The experiment's task's result writer (a Lightning callback), with this run's changes of
    its keys, writing `results`' metrics.json and its own files beside it."""
    from omegaconf import OmegaConf

    from bookkeeping.build import build

    node = OmegaConf.merge(params.task.result_writer, cfg.result_writer)
    return build(
        node, "task.result_writer", metrics=str(results.metrics), results_dir=str(results.test_dir)
    )


def one_process(trainer: DictConfig) -> None:
    """Score on one device: a distributed sampler would pad the test split with repeated images,
    and every process would rewrite result/."""
    if trainer.get("devices", 1) != 1 or trainer.get("num_nodes", 1) != 1:
        log.info("test.py scores every test image once, on one device (not %s)", trainer.devices)
    trainer.devices = 1
    if "num_nodes" in trainer:
        trainer.num_nodes = 1
    if "ddp" in str(trainer.get("strategy", "")):
        trainer.strategy = "auto"


if __name__ == "__main__":
    main()
