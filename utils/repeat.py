"""Repeat an experiment from its record alone: the params.yaml in its folder, not conf/.

    python -m utils.repeat <exp_name> [--as <new_exp_name>]

The new run trains with exactly the recorded settings (model, data, seed, trainer...) into
experiment/<new_exp_name>/ (default: <exp_name>_repeat). With trainer.deterministic=true on the
CPU it reproduces the recorded validation metrics; compare with
`python -m utils.report <exp_name> <new_exp_name>`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from data.manifest import DataError
from utils.experiment import ExperimentError, exit_cleanly_on, load_params

# Keys of params.yaml that describe the recorded run rather than configure training.
RECORD_ONLY = ("overrides", "branch")


def repeat_config(recorded: DictConfig, new_name: str) -> DictConfig:
    """The recorded config, moved to experiment/<new_name>/ as a fresh run."""
    params = OmegaConf.to_container(recorded)
    old_dir = params["paths"]["experiment_dir"]
    new_dir = f"{params['paths']['experiment_root']}/{new_name}"

    def repoint(value: object) -> object:
        # params.yaml is resolved, so every folder of the old run is spelled out in full.
        if isinstance(value, dict):
            return {key: repoint(item) for key, item in value.items()}
        if isinstance(value, list):
            return [repoint(item) for item in value]
        if isinstance(value, str) and (value == old_dir or value.startswith(old_dir + "/")):
            return new_dir + value[len(old_dir) :]
        return value

    params = repoint(params)
    for key in RECORD_ONLY:
        params.pop(key, None)
    params.update(exp_name=new_name, resume=False, overwrite=False, run_id=None)
    return OmegaConf.create(params)


@exit_cleanly_on(DataError, ExperimentError)
def repeat(name: str, new_name: str, experiment_root: Path = Path("experiment")) -> float | None:
    """Train `new_name` with the settings recorded for `name`."""
    from train import train

    cfg = repeat_config(load_params(experiment_root / name), new_name)
    return train(cfg, [f"repeat of {name}"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("exp_name", help="the experiment to repeat, a folder of experiment/")
    parser.add_argument(
        "--as", dest="new_name", help="the new experiment (default: <exp_name>_repeat)"
    )
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stdout,
        format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s",
    )
    repeat(args.exp_name, args.new_name or f"{args.exp_name}_repeat")


if __name__ == "__main__":
    main()
