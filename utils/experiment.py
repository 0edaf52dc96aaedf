"""The experiment folder: experiment/<exp-name>/{params.yaml, log/, model/, result/}.

Imports no torch at module level, so `python train.py --help` stays fast.
"""

from __future__ import annotations

import functools
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from utils.branch import current_branch, follows_rules

SUBFOLDERS = ("log", "model", "result")
PARAMS_FILE = "params.yaml"
# What `resume=true` takes from the command line; everything else comes from the record.
RESUME_MAY_CHANGE = ("exp_name", "resume", "trainer.max_epochs", "hydra/launcher")


class ExperimentError(Exception):
    """A problem with an experiment folder, its record or its checkpoints."""


def register_resolvers() -> None:
    """Config resolvers used by conf/.

    `${aug_tag:${data.augment}}` -> `aug` / `noaug`; `${branch_or:default}` -> the current git
    branch where it is an experiment branch (TEMP_.../MAIN_...), else `default`.
    """
    OmegaConf.register_new_resolver(
        "aug_tag", lambda augment: "aug" if augment else "noaug", replace=True
    )
    OmegaConf.register_new_resolver("branch_or", experiment_branch_or, replace=True, use_cache=True)


def experiment_branch_or(default: str) -> str:
    """The checked-out branch if it follows the experiment naming rules, else `default`."""
    branch = current_branch()
    return branch if follows_rules(branch) else default


def exit_cleanly_on(*errors: type[Exception]) -> Callable:
    """Turn the given exceptions into a one-line `error: ...` and exit status 1, no traceback.

    For mistakes of the user (a missing dataset, an existing folder) where a traceback only hides
    the message that says what to do.
    """

    def decorate(function: Callable) -> Callable:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except errors as error:
                raise SystemExit(f"error: {error}") from None

        return wrapper

    return decorate


def create_experiment_dir(cfg: DictConfig) -> Path:
    """Create experiment/<exp_name>/ with its subfolders; refuse to reuse one unless told to."""
    exp_dir = Path(cfg.paths.experiment_dir)
    if exp_dir.exists() and any(exp_dir.iterdir()):
        if not cfg.overwrite:
            raise ExperimentError(
                f"experiment folder {exp_dir} already exists. Add resume=true to continue it from "
                "its last checkpoint, overwrite=true to delete it and start again, or choose "
                "another name (exp_name=<new-name>)."
            )
        shutil.rmtree(exp_dir)
    for name in SUBFOLDERS:
        (exp_dir / name).mkdir(parents=True, exist_ok=True)
    return exp_dir


def resume_config(cfg: DictConfig, overrides: list[str]) -> DictConfig:
    """The recorded config of the experiment `cfg.exp_name`, to continue it with resume=true.

    A resumed run must be the run that was started, so it is rebuilt from its params.yaml, not
    from conf/; the command line may repeat the original overrides, and otherwise change only
    RESUME_MAY_CHANGE keys (to train longer).
    """
    if cfg.overwrite:
        raise ExperimentError("resume=true and overwrite=true contradict each other: choose one.")
    exp_dir = Path(cfg.paths.experiment_dir)
    if not (exp_dir / PARAMS_FILE).is_file():
        raise ExperimentError(
            f"nothing to resume: {exp_dir / PARAMS_FILE} does not exist. "
            "Drop resume=true to start this experiment."
        )
    recorded = load_params(exp_dir)
    # Repeating an override of the original command (a requeued job repeats all) changes nothing.
    given = {o.lstrip("+~") for o in overrides} - {o.lstrip("+~") for o in recorded.overrides}
    changed = sorted({override_key(o) for o in given} - set(RESUME_MAY_CHANGE))
    if changed:
        raise ExperimentError(
            f"resume=true continues {exp_dir} exactly as recorded in its {PARAMS_FILE}, so it "
            f"cannot change {', '.join(changed)}. Resume with only exp_name=... resume=true "
            "[trainer.max_epochs=...], or start a new experiment with another exp_name."
        )
    recorded.resume = True
    for key in {override_key(o) for o in given}:
        OmegaConf.update(recorded, key, OmegaConf.select(cfg, key), force_add=True)
    return recorded


def resume_checkpoint(exp_dir: Path) -> Path:
    """model/last.ckpt of an experiment being resumed, checked to be a readable checkpoint."""
    path = Path(exp_dir) / "model" / "last.ckpt"
    if not path.is_file():
        raise ExperimentError(
            f"{path} does not exist: the run stopped before its first checkpoint, so there is "
            "nothing to continue. Start it again with overwrite=true."
        )
    read_checkpoint(path)
    return path


def override_key(override: str) -> str:
    """`+trainer.max_epochs=3` -> `trainer.max_epochs`."""
    return override.split("=", 1)[0].lstrip("+~")


def new_run_id() -> str:
    """A short unique id for a new experiment (also its Weights & Biases run id)."""
    import uuid

    return uuid.uuid4().hex[:12]


def resolved_params(cfg: DictConfig, overrides: list[str]) -> dict:
    """The full config with every interpolation resolved, plus the command-line overrides.

    Values of keys named like secrets (api_key, token, password...) are replaced: the record may
    be committed and shared.
    """
    from utils.record import redact, redact_argument

    params = redact(OmegaConf.to_container(cfg, resolve=True))
    params["overrides"] = [redact_argument(o) for o in overrides]
    return params


def write_params(cfg: DictConfig, overrides: list[str], path: Path) -> None:
    """Save the resolved config as params.yaml, the record of what this experiment ran."""
    params = resolved_params(cfg, overrides)
    params["branch"] = current_branch()
    OmegaConf.save(OmegaConf.create(params), path)


def load_params(exp_dir: Path) -> DictConfig:
    """Read an experiment's params.yaml, saying which experiments exist when it is missing."""
    path = Path(exp_dir) / PARAMS_FILE
    if not path.is_file():
        root = Path(exp_dir).parent
        found = sorted(p.parent.name for p in root.glob(f"*/{PARAMS_FILE}"))
        listing = ", ".join(found) if found else "none yet: run python train.py first"
        raise ExperimentError(f"{path} does not exist. Experiments in {root}/: {listing}.")
    return OmegaConf.load(path)


def find_checkpoint(exp_dir: Path, which: str) -> Path:
    """The `best` or `last` checkpoint of an experiment, or the file `which` names."""
    named = which in ("best", "last")
    path = Path(exp_dir) / "model" / f"{which}.ckpt" if named else Path(which)
    if not path.is_file():
        raise ExperimentError(
            f"checkpoint {path} does not exist. Use checkpoint=best, "
            "checkpoint=last or checkpoint=<path to a .ckpt file>."
        )
    return path


def read_checkpoint(path: Path) -> dict:
    """Load a Lightning checkpoint with only plain tensors and containers unpickled."""
    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a damaged file
        raise ExperimentError(
            f"{path} is not a readable Lightning checkpoint ({error})."
        ) from error
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ExperimentError(f"{path} holds no model weights: not a Lightning checkpoint.")
    return checkpoint


def load_weights(model: Any, path: Path) -> None:
    """Load a Lightning checkpoint's weights into `model`, saying so when they do not fit."""
    state_dict = read_checkpoint(path)["state_dict"]
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as error:
        raise ExperimentError(
            f"{path} does not fit the model in params.yaml: it was saved by "
            f"another model or configuration.\n{error}"
        ) from error


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


def log_to_file(path: Path) -> None:
    """Copy everything logged from now on into a text log, e.g. log/train.log.

    Replaces the file log of an earlier run in the same process (Hydra multirun jobs).
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "experiment_log", False)]:
        root.removeHandler(old)
        old.close()
    handler = logging.FileHandler(path)
    handler.experiment_log = True
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    root.addHandler(handler)


def instantiate_each(group: DictConfig | None) -> list:
    """Build every object of a group such as `logger` or `callbacks`; null entries are skipped."""
    from hydra.utils import instantiate

    return [instantiate(node) for node in (group or {}).values() if node is not None]
