"""Predict with a trained experiment: `python predict.py exp_name=<name> input=<where> [key=value]`.

Runs the experiment's best checkpoint (checkpoint=last or a path for another) on new inputs,
which need no labels, into experiment/<exp_name>/result/predict/<input name>/. What it reads and
writes is the task's predictor (`predictor=`, conf/predictor/<task>.yaml: the worked example's
takes any photographs and writes maps, a summary.csv and a shift report against the training data).
"""

import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from bookkeeping.config import load_env_file, register_resolvers
from bookkeeping.folder import ExperimentError, name_from
from utils.base import UserError, exit_cleanly_on

log = logging.getLogger("predict")
register_resolvers()


@hydra.main(config_path="conf", config_name="predict", version_base="1.3")
@exit_cleanly_on(UserError)
def main(cfg: DictConfig) -> list[dict]:
    load_env_file()  # .env: secrets such as WANDB_API_KEY, kept out of every record
    from bookkeeping.experiment import trained_experiment, trained_model

    folder, params, checkpoint = trained_experiment(cfg, "predict.py")
    check_predictor(params, chosen_predictor(), folder.name)
    name = cfg.name or input_name(str(cfg.input))
    folder.prediction_dir(name)  # the name checked before anything is loaded
    statistics = folder.load_data_statistics()

    from bookkeeping.build import build

    predictor = build(cfg.predictor, "predictor")
    inputs = predictor.find(str(cfg.input))  # a missing input stops before anything is written
    model = trained_model(params, checkpoint)
    out = folder.fresh_prediction_dir(name)
    return predictor(model, inputs, out, statistics, params, cfg.device)


def chosen_predictor() -> str | None:
    """The predictor= option of this run (None outside a Hydra run, as in tests)."""
    try:
        return HydraConfig.get().runtime.choices.get("predictor")
    except ValueError:
        return None


def check_predictor(params: DictConfig, chosen: str | None, experiment: str) -> None:
    """Stop when the experiment's task names no predictor, or another one than this run's."""
    task = params.get("task") or {}
    wanted = task.get("predictor")
    if wanted is None:
        which = f"task ({task['name']})" if task.get("name") else "params.yaml (no task recorded)"
        raise ExperimentError(
            f"experiment {experiment}'s {which} names no predictor (task.predictor), so "
            "predict.py has nothing to run for it; give the task one in conf/task/ and "
            "conf/predictor/, then train again."
        )
    if chosen is not None and chosen != wanted:
        raise ExperimentError(
            f"experiment {experiment} is a {params.task.name} experiment, which predicts with "
            f"predictor={wanted}, not {chosen}: add predictor={wanted}."
        )


def input_name(where: str) -> str:
    """The output folder's name for an input: the folder's or file's name, as a plain name."""
    stem = Path(where.split("*")[0].split("?")[0]).stem or "input"
    return name_from(stem).strip("-.") or "input"


if __name__ == "__main__":
    main()
