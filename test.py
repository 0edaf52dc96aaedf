"""Evaluate a trained experiment on the test split: `python test.py exp_name=<name>`.

Rebuilds the model and data from experiment/<exp_name>/params.yaml, loads its best checkpoint
(checkpoint=last or a path for another), and writes the scores, a per-image table and
prediction/error images to experiment/<exp_name>/result/.
"""

import json
import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig

from data.manifest import DataError
from utils.experiment import (
    ExperimentError,
    exit_cleanly_on,
    find_checkpoint,
    load_params,
    load_weights,
    log_lightning_once,
    register_resolvers,
)

log = logging.getLogger("test")
register_resolvers()


@hydra.main(config_path="conf", config_name="test", version_base="1.3")
@exit_cleanly_on(DataError, ExperimentError)
def main(cfg: DictConfig) -> None:
    if not cfg.exp_name:
        raise ExperimentError(
            "say which experiment to test: python test.py exp_name=<name> "
            f"(a folder of {cfg.paths.experiment_root}/)."
        )
    exp_dir = Path(cfg.paths.experiment_dir)
    params = load_params(exp_dir)
    checkpoint = find_checkpoint(exp_dir, cfg.checkpoint)

    from hydra.utils import instantiate

    log_lightning_once()
    model = instantiate(params.model)
    load_weights(model, checkpoint)
    datamodule = instantiate(params.data)
    datamodule.prepare_data()
    trainer = instantiate(cfg.trainer, logger=False, callbacks=[instantiate(cfg.result_writer)])
    log.info("Testing %s with %s", cfg.exp_name, checkpoint)
    trainer.test(model, datamodule=datamodule, verbose=False)

    metrics_file = Path(cfg.paths.result_dir) / "metrics.json"
    if not metrics_file.is_file():
        raise ExperimentError(
            f"no test image was scored, so {metrics_file} was not written; "
            "check trainer.limit_test_batches and the test manifest."
        )
    metrics = json.loads(metrics_file.read_text())
    log.info(
        "Test scores inside the field of view: %s",
        ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float)),
    )
    log.info("Results in %s", cfg.paths.result_dir)


if __name__ == "__main__":
    main()
