"""One experiment, one branch: create, check, promote and list experiment branches.

    python -m bookkeeping.branch new model=pix2pix data=drive  # TEMP_PIX2PIX_DRIVE_AUG
    python -m bookkeeping.branch new --long-term --tag lr1e-3  # MAIN_UNET_SYNTHETIC_NOAUG_LR1E-3
    python -m bookkeeping.branch check [NAME]     # the current branch by default
    python -m bookkeeping.branch promote [NAME]   # TEMP_X -> MAIN_X, with its experiment folder
    python -m bookkeeping.branch list             # experiment branches, last commit, test scores

The rules themselves are in bookkeeping/naming.py. Only the standard library is imported at
module level, so the git hook and CI run `check` without installs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bookkeeping.folder import ExperimentFolder
from bookkeeping.git import current_branch, git
from bookkeeping.naming import BranchError, branch_name, check
from utils.base import UserError, exit_cleanly_on

EXPERIMENT_ROOT = Path("experiment")


def create(name: str, cwd: Path | None = None) -> None:
    """Create branch `name` from the current commit and switch to it, if the tree is clean."""
    check(name)
    dirty = git("status", "--porcelain", "--untracked-files=no", cwd=cwd)
    if dirty:
        raise BranchError(
            "the working tree has uncommitted changes; commit or stash them first, "
            f"so the new branch starts from a known state:\n{dirty}"
        )
    if git("branch", "--list", name, cwd=cwd):
        raise BranchError(
            f"branch {name} already exists: `git switch {name}` to continue it, or "
            "add --tag <note> to name a new variant."
        )
    git("switch", "-c", name, cwd=cwd)


def promote(name: str, experiment_root: Path = EXPERIMENT_ROOT, cwd: Path | None = None) -> str:
    """Rename TEMP_X to MAIN_X, with its experiment folder (params.yaml follows the folder)."""
    check(name)
    if not name.startswith("TEMP_"):
        raise BranchError(f"only TEMP_ branches can be promoted; {name} is already long-term.")
    new = "MAIN_" + name.removeprefix("TEMP_")
    if git("branch", "--list", new, cwd=cwd):
        raise BranchError(f"branch {new} already exists; rename or delete it first.")
    folder = ExperimentFolder(Path(cwd or ".") / experiment_root, name)
    if ExperimentFolder(folder.root, new).occupied():
        raise BranchError(f"{folder.root / new} already exists; move it away first.")
    git("branch", "-m", name, new, cwd=cwd)
    if folder.path.is_dir():
        folder.rename(new)
    return new


def list_branches(experiment_root: Path = EXPERIMENT_ROOT, cwd: Path | None = None) -> str:
    """A table of experiment branches: last commit and, where recorded, the test scores their
    experiment's task lists (task.scores in its params.yaml)."""
    refs = git(
        "for-each-ref",
        "--format=%(refname:short)|%(committerdate:short)|%(subject)",
        "refs/heads/TEMP_*",
        "refs/heads/MAIN_*",
        cwd=cwd,
    )
    lines = [line.split("|", 2) for line in filter(None, refs.splitlines())]
    scored = [
        recorded_scores(ExperimentFolder(Path(cwd or ".") / experiment_root, name))
        for name, _, _ in lines
    ]
    width = max([len("test scores"), *(len(text) for text in scored)])
    rows = [f"{'branch':<36} {'last commit':<11} {'test scores':<{width}}  subject"]
    for (name, date, subject), text in zip(lines, scored, strict=True):
        rows.append(f"{name:<36} {date:<11} {text:<{width}}  {subject}")
    return "\n".join(rows)


def recorded_scores(folder: ExperimentFolder) -> str:
    """`<score> <value>, ...`: the test scores an experiment's task lists, or `-` for none."""
    if not (folder.params.is_file() and folder.metrics.is_file()):
        return "-"
    from bookkeeping.report import read_params, test_columns  # yaml: `check` runs on a bare python

    measured = json.loads(folder.metrics.read_text())
    shown = [
        f"{title.removeprefix('test ')} {measured[key]:.4f}"
        for title, key in test_columns(read_params(folder))
        if measured.get(key) is not None
    ]
    return ", ".join(shown) or "-"


def compose_name(overrides: list[str], tags: tuple[str, ...], long_term: bool) -> str:
    """Compose conf/train.yaml with Hydra overrides and derive the branch name from the choices."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException

    from bookkeeping.config import name_of, register_resolvers

    register_resolvers()
    conf = Path(__file__).resolve().parents[1] / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        try:
            cfg = compose(config_name="train", overrides=overrides)
        except HydraException as error:  # a misspelt key or option: as train.py would say it
            raise BranchError(f"{' '.join(overrides)}: {error}") from None
    return branch_name(*name_of(cfg), tags, long_term)


@exit_cleanly_on(UserError)
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    new = commands.add_parser("new", help="create and switch to the branch of a config")
    new.add_argument("overrides", nargs="*", help="Hydra overrides, as for train.py")
    new.add_argument("--long-term", action="store_true", help="MAIN_ instead of TEMP_")
    new.add_argument("--tag", action="append", default=[], help="an extra name part")
    for command in ("check", "promote"):
        sub = commands.add_parser(command, help=f"{command} a branch (default: the current one)")
        sub.add_argument("name", nargs="?")
    commands.add_parser("list", help="experiment branches with their last commit and scores")
    args = parser.parse_args(argv)
    if args.command == "new":
        name = compose_name(args.overrides, tuple(args.tag), args.long_term)
        create(name)
        print(
            f"Switched to new branch {name}. Train with: python train.py "
            + " ".join(args.overrides)
        )
    elif args.command == "list":
        print(list_branches())
    else:
        name = args.name or current_branch()
        if name is None:
            return  # detached HEAD (rebase, bisect): nothing to check
        if args.command == "check":
            check(name)
            print(f"{name}: OK")
        else:
            print(f"Promoted {name} to {promote(name)}")


if __name__ == "__main__":
    main()
