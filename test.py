"""Evaluate a trained experiment on the test split: `python test.py exp_name=<name>`.

Rebuilds the model and data from experiment/<exp_name>/params.yaml, loads its best checkpoint
(checkpoint=last or a path for another), and writes the scores, a per-image table and
prediction/error images to experiment/<exp_name>/result/.

`python test.py exp_name=<name> data=<other>` scores the test split of another dataset instead,
fed as the experiment was trained (its normalisation and statistics, each image resized to the
training FOV diameter, as predict.py does), into experiment/<exp_name>/result/on_<other>/.
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
    if not cfg.exp_name:
        raise ExperimentError(
            "say which experiment to test: python test.py exp_name=<name> "
            f"(a folder of {cfg.paths.experiment_root}/)."
        )
    folder = ExperimentFolder(cfg.paths.experiment_root, cfg.exp_name)
    params = folder.load_params()
    checkpoint = folder.checkpoint(cfg.checkpoint)

    from bookkeeping.build import build
    from bookkeeping.experiment import log_lightning_once
    from utils.checkpoint import load_weights
    from utils.distributed import global_rank
    from utils.precision import pick_precision

    log_lightning_once()
    if global_rank() != 0:  # started by torchrun or srun with several: rank 0 scores alone
        return {}
    one_process(cfg.trainer)
    pick_precision(cfg.trainer)
    model = build(params.model, "model")
    load_weights(model, checkpoint)
    # normalize=dataset: the mean and std the model was trained with, not today's data folder's.
    kept = folder.load_data_statistics()
    data, scale = params.data, {}
    if cfg.tested_on is not None:
        data, scale = other_dataset(cfg, params, kept)
    datamodule = build(data, "data", normalization=kept.get("normalization"), **scale)
    datamodule.prepare_data()
    writer = build(cfg.result_writer, "result_writer")
    trainer = build(cfg.trainer, "trainer", logger=False, callbacks=[writer])
    log.info("Testing %s with %s on %s", folder.name, checkpoint, data.name)
    scores = trainer.test(model, datamodule=datamodule, verbose=False)[0]
    if not scores:
        raise ExperimentError(
            f"no test image was scored, so {folder.result_dir} holds no results; "
            "check trainer.limit_test_batches and the test manifest."
        )
    log.info(
        "Test scores inside the field of view: %s",
        ", ".join(f"{k.removeprefix('test/')} {v:.4f}" for k, v in scores.items()),
    )
    log.info("Results in %s", folder.on(cfg.tested_on).test_dir)
    return scores


def other_dataset(
    cfg: DictConfig, params: DictConfig, kept: dict
) -> tuple[DictConfig, dict[str, float]]:
    """data=<other>: its config, with the experiment's own normalisation; and the training FOV
    diameter its test images are resized to."""
    from omegaconf import OmegaConf

    if cfg.data.name == params.data.name:
        raise ExperimentError(
            f"experiment {cfg.exp_name} was trained on data={params.data.name}: "
            f"python test.py exp_name={cfg.exp_name} scores its test split (without data=)."
        )
    if "fov_diameter" not in kept:
        raise ExperimentError(
            f"experiment {cfg.exp_name} keeps no training statistics (data_statistics.json), "
            "so the scale of another dataset's images cannot be matched; train it again."
        )
    data = OmegaConf.merge(cfg.data, {"normalize": params.data.normalize})
    return data, {"test_fov_diameter": kept["fov_diameter"]["median"]}


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
