"""One experiment, one branch: name, check, create, promote and list experiment branches.

    python -m utils.branch new model=pix2pix data=drive   # -> TEMP_PIX2PIX_DRIVE_NOAUG
    python -m utils.branch new --long-term --tag lr1e-3   # -> MAIN_UNET_SYNTHETIC_NOAUG_LR1E-3
    python -m utils.branch check [NAME]     # the current branch by default
    python -m utils.branch promote [NAME]   # TEMP_X -> MAIN_X, with its experiment folder
    python -m utils.branch list             # experiment branches, last commit, test scores

A name is `TEMP_` (temporary) or `MAIN_` (long-term), then the model, the dataset and any other
choices, in upper case, joined by `_`. `main` holds the project's introduction and demo. Only the
standard library is imported at module level, so the git hook and CI run this without installs.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

PREFIXES = ("TEMP", "MAIN")
DEMO_BRANCH = "main"
PART = re.compile(r"[A-Z0-9]+(-[A-Z0-9]+)*")


class BranchError(Exception):
    """A branch name or a git state that the branch rules refuse; the message says why."""


def git(*args: str, cwd: Path | None = None) -> str:
    """Run git and return its stripped output; raise BranchError with git's message on failure."""
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise BranchError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def current_branch(cwd: Path | None = None) -> str | None:
    """The checked-out branch, or None outside a repository or on a detached HEAD."""
    try:
        return git("branch", "--show-current", cwd=cwd) or None
    except (BranchError, FileNotFoundError):
        return None


def as_part(text: str) -> str:
    """One name part: upper case, characters other than A-Z, 0-9 and '-' become '-'."""
    return re.sub(r"-+", "-", re.sub(r"[^A-Z0-9-]", "-", str(text).upper())).strip("-")


def branch_name(
    model: str, data: str, augment: bool, tags: tuple[str, ...] = (), long_term: bool = False
) -> str:
    """The branch name of an experiment, e.g. TEMP_PIX2PIX_DRIVE_NOAUG."""
    parts = [model, data, "AUG" if augment else "NOAUG", *tags]
    return "_".join([PREFIXES[1] if long_term else PREFIXES[0], *(as_part(p) for p in parts)])


def name_problems(name: str) -> list[str]:
    """Everything wrong with a branch name (empty when it follows the rules)."""
    if name == DEMO_BRANCH:
        return []
    problems = []
    prefix, _, rest = name.partition("_")
    if prefix not in PREFIXES:
        problems.append(
            f"it must start with TEMP_ (temporary) or MAIN_ (long-term), not {prefix!r}"
        )
    if name != name.upper():
        problems.append("it must be upper case")
    parts = rest.split("_") if rest else []
    if len(parts) < 2:
        problems.append("it must name at least the model and the dataset, e.g. TEMP_UNET_DRIVE")
    bad = [p for p in parts if not PART.fullmatch(p.upper())]
    if bad:
        problems.append(f"parts may hold only A-Z, 0-9 and inner '-': {', '.join(map(repr, bad))}")
    if subprocess.run(
        ["git", "check-ref-format", "--branch", name], capture_output=True
    ).returncode:
        problems.append("git refuses it as a branch name")
    return problems


def check(name: str) -> None:
    """Raise BranchError explaining every problem of a branch name."""
    problems = name_problems(name)
    if problems:
        example = branch_name("pix2pix", "drive", augment=False)
        raise BranchError(
            f"branch {name!r} does not follow the naming rules:\n  - "
            + "\n  - ".join(problems)
            + f"\n  Example: {example} (see README)."
        )


def follows_rules(name: str | None) -> bool:
    """True for a TEMP_/MAIN_ experiment branch with a valid name."""
    return bool(name) and name != DEMO_BRANCH and not name_problems(name)


def config_mismatches(branch: str, model: str, data: str, augment: bool) -> list[str]:
    """Where an experiment branch's name contradicts the composed config (model, data, AUG)."""
    parts = branch.split("_")[1:]
    mismatches = []
    if parts and parts[0] != as_part(model):
        mismatches.append(f"the branch says model {parts[0]}, the config trains {model}")
    if len(parts) > 1 and parts[1] != as_part(data):
        mismatches.append(f"the branch says dataset {parts[1]}, the config uses {data}")
    wanted = "AUG" if augment else "NOAUG"
    if {"AUG", "NOAUG"} & set(parts[2:]) and wanted not in parts[2:]:
        mismatches.append(f"the branch and data.augment={str(augment).lower()} disagree")
    return mismatches


def branch_warnings(model: str, data: str, augment: bool) -> list[str]:
    """Warnings for a run whose experiment branch names other choices than its config."""
    branch = current_branch()
    if not follows_rules(branch):
        return []
    return [
        f"branch {branch}: {problem}" for problem in config_mismatches(branch, model, data, augment)
    ]


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


def promote(name: str, experiment_root: Path = Path("experiment"), cwd: Path | None = None) -> str:
    """Rename TEMP_X to MAIN_X, with its experiment folder and the name inside params.yaml."""
    check(name)
    if not name.startswith("TEMP_"):
        raise BranchError(f"only TEMP_ branches can be promoted; {name} is already long-term.")
    new = "MAIN_" + name.removeprefix("TEMP_")
    if git("branch", "--list", new, cwd=cwd):
        raise BranchError(f"branch {new} already exists; rename or delete it first.")
    git("branch", "-m", name, new, cwd=cwd)
    folder = Path(cwd or ".") / experiment_root / name
    if folder.is_dir():
        target = folder.with_name(new)
        folder.rename(target)
        params = target / "params.yaml"
        if params.is_file():
            params.write_text(params.read_text().replace(name, new))
    return new


def list_branches(experiment_root: Path = Path("experiment"), cwd: Path | None = None) -> str:
    """A table of experiment branches: last commit and, where recorded, test F1 and AUC-ROC."""
    refs = git(
        "for-each-ref",
        "--format=%(refname:short)|%(committerdate:short)|%(subject)",
        "refs/heads/TEMP_*",
        "refs/heads/MAIN_*",
        cwd=cwd,
    )
    rows = [f"{'branch':<36} {'last commit':<11} {'F1':>6} {'AUC':>6}  subject"]
    for line in filter(None, refs.splitlines()):
        name, date, subject = line.split("|", 2)
        metrics_file = Path(cwd or ".") / experiment_root / name / "result" / "metrics.json"
        scores = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
        f1, auc = (f"{scores[k]:.4f}" if k in scores else "-" for k in ("f1", "auroc"))
        rows.append(f"{name:<36} {date:<11} {f1:>6} {auc:>6}  {subject}")
    return "\n".join(rows)


def compose_name(overrides: list[str], tags: tuple[str, ...], long_term: bool) -> str:
    """Compose conf/ with Hydra overrides and derive the branch name from the choices."""
    from hydra import compose, initialize_config_dir

    from utils.experiment import register_resolvers

    register_resolvers()
    conf = Path(__file__).resolve().parents[1] / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    return branch_name(cfg.model.name, cfg.data.name, cfg.data.augment, tags, long_term)


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
    try:
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
    except BranchError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
