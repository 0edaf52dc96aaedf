"""From conf/ to the configuration of one run: resolvers, sweep job names, resume and repeat.

Imports omegaconf but no torch, so `python train.py --help` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from bookkeeping.folder import ExperimentError, ExperimentFolder, check_name, name_from
from bookkeeping.naming import Choice, choices, experiment_branch, run_name
from bookkeeping.record import read_record

# What the command line may say beside resume=true / repeat_of=...; the rest comes from the record.
RESUME_MAY_CHANGE = ("exp_name", "resume", "trainer.max_epochs", "hydra/launcher")
REPEAT_MAY_CHANGE = ("exp_name", "repeat_of", "overwrite")
SWEEP_ARGUMENTS = "TRAIN_SWEEP_ARGUMENTS"  # the sweep's command line, for jobs run by submitit
# Paths of an experiment folder that conf/ may ask for, ${exp_folder:model_dir}...: the folder
# itself and each path property of ExperimentFolder, the one owner of the layout.
LAYOUT = (
    "path",
    *(key for key, kind in vars(ExperimentFolder).items() if isinstance(kind, property)),
)


def register_resolvers() -> None:
    """The resolvers conf/ uses.

    `${run_name:}` -> the model's and the dataset's names and the task's choices
    (`task.name_parts`), e.g. `unet_synthetic_noaug`; `${branch_or:default}` -> the checked-out
    branch where it is an experiment branch (TEMP_.../MAIN_...), else `default`;
    `${exp_folder:model_dir}` -> that path of this run's experiment folder
    (`${exp_folder:metrics,<dataset>}`: of its test results on another dataset);
    `${exp_files:<experiment>,<key>}` -> {params, checkpoint, data_statistics}: the files
    another trained experiment is rebuilt from (null for null), e.g. a model a task's writer
    runs, given by config key `<key>`;
    `${unswept_when_named:[keys]}` -> the keys left out of a sweep job's name (see below).
    """
    OmegaConf.register_new_resolver(
        "run_name", lambda *, _root_: run_name(*name_of(_root_)), replace=True
    )
    OmegaConf.register_new_resolver(
        "branch_or", lambda default: experiment_branch() or default, replace=True, use_cache=True
    )
    OmegaConf.register_new_resolver("exp_folder", experiment_path, replace=True)
    OmegaConf.register_new_resolver("exp_files", trained_files, replace=True)
    OmegaConf.register_new_resolver("unswept_when_named", unswept_when_named, replace=True)


def name_of(cfg: DictConfig) -> tuple[str, str, list[Choice]]:
    """What names a run of `cfg`: its model, its dataset and the choices its task names it by."""
    task = cfg.get("task") or {}
    parts = OmegaConf.to_container(task.get("name_parts") or OmegaConf.create({}), resolve=True)
    chosen = choices(parts, lambda key: OmegaConf.select(cfg, key, default=None))
    return str(cfg.model.name), str(cfg.data.name), chosen


def load_env_file(path: Path = Path(".env")) -> list[str]:
    """Put the `KEY=VALUE` lines of `.env` (if there is one) into the environment; return the keys.

    For secrets such as WANDB_API_KEY that must not be typed on a command line (which the record
    keeps). A variable already set in the environment wins. Blank lines and `#` comments are
    skipped; quotes around a value are removed. Nothing from the environment is ever recorded.
    """
    if not path.is_file():
        return []
    loaded = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep or not key.strip().isidentifier():
            raise ExperimentError(f"{path}:{number}: expected KEY=VALUE, found {line!r}.")
        key, value = key.strip(), value.strip().strip("'\"")
        if key not in os.environ:
            os.environ[key] = value
            loaded.append(key)
    return loaded


def experiment_path(attribute: str, tested_on: str | None = None, *, _root_: DictConfig) -> str:
    """`${exp_folder:<attribute>}`: a path inside experiment/<exp_name>/ (see ExperimentFolder);
    `${exp_folder:<attribute>,<dataset>}`: one of its test results on `dataset` (null: its own)."""
    if attribute not in LAYOUT:
        raise ExperimentError(
            f"${{exp_folder:{attribute}}}: unknown path; use one of {', '.join(LAYOUT)}."
        )
    folder = ExperimentFolder(_root_.paths.experiment_root, _root_.exp_name, tested_on)
    return str(getattr(folder, attribute))


def trained_files(
    name: str | None, key: str = "exp_files", *, _root_: DictConfig
) -> dict[str, str] | None:
    """`${exp_files:<experiment>[,<key>]}`: the paths of another experiment's params.yaml, best
    checkpoint and data statistics, under this run's experiment root (None for no name); a bad
    name is refused naming `key`, the config key it came from."""
    if name is None:
        return None
    folder = ExperimentFolder(_root_.paths.experiment_root, check_name(name, key))
    return {
        "params": str(folder.params),
        "checkpoint": str(folder.best_checkpoint),
        "data_statistics": str(folder.data_statistics),
    }


def unswept_when_named(always: list[str], argv: list[str] | None = None) -> list[str]:
    """The keys a `-m` job's name leaves out: `always`, and, when the command line names the
    experiment (exp_name=...), each override it does not sweep, so that a job is named by
    exp_name and its swept values alone (a single job submitted with -m keeps its name)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if argv is None:
        argv = sweep_command_line()
    arguments = [a for a in argv if not a.startswith("-")]
    try:
        parsed = OverridesParser.create().parse_overrides([a for a in arguments if "=" in a])
    except Exception:  # noqa: BLE001  (not a Hydra command line, e.g. under pytest)
        return list(always)
    if not any(o.key_or_group == "exp_name" for o in parsed):
        return list(always)
    fixed = [o.key_or_group for o in parsed if not o.is_sweep_override()]
    return list(dict.fromkeys([*always, *fixed]))


def sweep_command_line() -> list[str]:
    """The arguments the sweep was started with. A job that submitit runs elsewhere (SLURM, or
    submitit_local) composes its config again in a process started with submitit's own
    arguments; it finds the sweep's in the environment, which sbatch and submitit pass on."""
    if Path(sys.argv[0]).name != "_submit.py":
        os.environ[SWEEP_ARGUMENTS] = json.dumps(sys.argv[1:])
        return sys.argv[1:]
    return json.loads(os.environ.get(SWEEP_ARGUMENTS, "[]"))


def override_key(override: str) -> str:
    """`+trainer.max_epochs=3` -> `trainer.max_epochs`."""
    return override.split("=", 1)[0].lstrip("+~")


def sweep_job_name(base: str, override_dirname: str) -> str:
    """The name of one job of a `-m` sweep: the base name plus the job's own values.

    `override_dirname` is Hydra's `seed-2_model.optimizer.lr-0.001` (conf/hydra/settings: `-`
    between key and value, `_` between overrides, keys that do not change the run excluded).
    Characters a name may not hold become `-`, so `unet_synthetic_noaug_seed-2` pastes back.
    """
    suffix = name_from(override_dirname.replace("\\", "")).strip("-_.")
    return f"{base}_{suffix}" if suffix else base


def run_config(
    cfg: DictConfig, overrides: list[str], job_suffix: str | None = None
) -> tuple[DictConfig, list[str]]:
    """The configuration and overrides this run trains with.

    In a sweep, `job_suffix` (Hydra's override_dirname) extends the name so every job gets its
    own folder. resume=true / auto and repeat_of=<exp> rebuild the run from a record instead of
    conf/. The name is checked here, before anything is read or written.
    """
    if job_suffix is not None:
        refuse_processes_in_sweep(cfg)
        cfg.exp_name = sweep_job_name(cfg.exp_name, job_suffix)
    if cfg.get("repeat_of"):
        return repeat_config(cfg, overrides)
    folder = ExperimentFolder(cfg.paths.experiment_root, cfg.exp_name)
    if cfg.resume == "auto":  # a requeued cluster job: continue if there is anything to continue
        cfg.resume = folder.last_checkpoint.is_file()
        if not cfg.resume and folder.is_experiment():
            # Requeued before its first checkpoint (pre-empted while preparing data, compiling
            # or in its first batches): nothing to continue, and its folder holds no model.
            print(f"resume=auto: {folder.path} has no checkpoint yet; starting it over.")
            cfg.overwrite = True
    if cfg.resume:
        return resume_config(cfg, folder, overrides)
    return cfg, overrides


def refuse_processes_in_sweep(cfg: DictConfig) -> None:
    """Stop a `-m` sweep whose jobs would start DDP processes themselves: Lightning starts each
    copy with this process's command line, so every copy would run the whole sweep again."""
    from utils.engine.distributed import launched_together

    trainer = cfg.trainer
    devices = trainer.get("devices", 1)
    several = devices not in (1, "1", None) or int(trainer.get("num_nodes", 1) or 1) > 1
    spawned = "spawn" in str(trainer.get("strategy", ""))
    if several and not spawned and not launched_together():
        raise ExperimentError(
            f"-m with trainer.devices={devices} would start each job's DDP processes from this "
            "command line, and each would run the whole sweep again. Run the sweep through "
            "SLURM, which starts one task per device: -m hydra/launcher=slurm "
            "hydra.launcher.tasks_per_node=<devices> (hydra.launcher.gpus_per_node the same), "
            "or one job at a time without -m."
        )


def resume_config(
    cfg: DictConfig, folder: ExperimentFolder, overrides: list[str]
) -> tuple[DictConfig, list[str]]:
    """The recorded configuration of `folder`, to continue it.

    A resumed run must be the run that was started, so it is rebuilt from its params.yaml, not
    from conf/; the command line may repeat the original overrides (a requeued job repeats all),
    and otherwise change only RESUME_MAY_CHANGE keys (to train longer).
    """
    if cfg.overwrite:
        raise ExperimentError("resume=true and overwrite=true contradict each other: choose one.")
    if not folder.params.is_file():
        raise ExperimentError(
            f"nothing to resume: {folder.params} does not exist. "
            "Drop resume=true to start this experiment."
        )
    recorded = folder.load_params()
    original = list(read_record(folder).get("overrides") or [])
    given = {o.lstrip("+~") for o in overrides} - {o.lstrip("+~") for o in original}
    changed = sorted({override_key(o) for o in given} - set(RESUME_MAY_CHANGE))
    if changed:
        raise ExperimentError(
            f"resume=true continues {folder.path} exactly as recorded in {folder.params.name}, "
            f"so it cannot change {', '.join(changed)}. Resume with only exp_name=... "
            "resume=true [trainer.max_epochs=...], or start a new experiment with another exp_name."
        )
    recorded.resume = True
    for key in {override_key(o) for o in given}:
        OmegaConf.update(recorded, key, OmegaConf.select(cfg, key), force_add=True)
    return recorded, original


def repeat_config(cfg: DictConfig, overrides: list[str]) -> tuple[DictConfig, list[str]]:
    """A new experiment with exactly the settings recorded for experiment `cfg.repeat_of`.

    The recorded params.yaml is used, whatever conf/ says now; only the name (default
    `<repeat_of>_repeat`) and overwrite may be given.
    """
    source = ExperimentFolder(cfg.paths.experiment_root, cfg.repeat_of).require()
    keys = {override_key(o) for o in overrides}
    changed = sorted(keys - set(REPEAT_MAY_CHANGE))
    if changed:
        raise ExperimentError(
            f"repeat_of={source.name} reruns it exactly as recorded, so it cannot change "
            f"{', '.join(changed)}. Start a new experiment for other settings."
        )
    name = cfg.exp_name if "exp_name" in keys else f"{source.name}_repeat"
    target = ExperimentFolder(cfg.paths.experiment_root, name)
    if target.name == source.name:
        raise ExperimentError("a repeat needs its own folder: add exp_name=<new-name>.")
    params = target.moved_params(OmegaConf.to_container(source.load_params()), source.name)
    params.update(resume=False, overwrite=bool(cfg.overwrite), repeat_of=source.name)
    return OmegaConf.create(params), overrides


def resolved(cfg: DictConfig) -> dict[str, Any]:
    """The configuration as plain data, every interpolation resolved."""
    return OmegaConf.to_container(cfg, resolve=True)
