"""The branch naming rules: one experiment, one branch, named after what it runs.

A name is `TEMP_` (temporary) or `MAIN_` (long-term), then the model, the dataset and any other
choices, in upper case, joined by `_`: TEMP_PIX2PIX_DRIVE_NOAUG. Which other choices a name holds
is the task's to say (`task.name_parts` in conf/task/); this module knows none. `main` holds the
project's introduction and demo. Standard library only: the git hook runs this with a bare
python3.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from bookkeeping.git import current_branch
from utils.base import UserError

PREFIXES = ("TEMP", "MAIN")
DEMO_BRANCH = "main"
PART = re.compile(r"[A-Z0-9]+(-[A-Z0-9]+)*")


class BranchError(UserError):
    """A branch name or a git state that the branch rules refuse; the message says why."""


def as_part(text: str) -> str:
    """One name part: upper case, characters other than A-Z, 0-9 and '-' become '-'."""
    return re.sub(r"-+", "-", re.sub(r"[^A-Z0-9-]", "-", str(text).upper())).strip("-")


class Choice(NamedTuple):
    """One name part beyond the model and the dataset: the word of the configured value, and the
    words of every value its key may take (what a branch name may say instead)."""

    key: str
    word: str
    words: tuple[str, ...]


def choices(name_parts: Mapping | None, value_of: Callable[[str], Any]) -> list[Choice]:
    """The name parts a task declares, `{config key: {value: word}}`, for the values `value_of`
    reads from a configuration (a key mapped to null gives its value itself as the word)."""
    found = []
    for key, words in (name_parts or {}).items():
        value = value_of(key)
        if words is None:
            found.append(Choice(key, str(value), ()))
            continue
        word = words.get(value, words.get(str(value).lower()))
        if word is None:
            named = ", ".join(str(v).lower() if isinstance(v, bool) else str(v) for v in words)
            raise UserError(
                f"{key}={value!r}: the task names its runs by {key} = {named} "
                "(task.name_parts); set one of these, or give the task a word for this value "
                "in its file of conf/task/."
            )
        found.append(Choice(key, str(word), tuple(str(w) for w in words.values())))
    return found


def run_name(model: str, data: str, chosen: Sequence[Choice]) -> str:
    """An experiment's default name: model, dataset and the task's choices, e.g.
    unet_synthetic_noaug."""
    return "_".join([model, data, *(choice.word for choice in chosen)])


def branch_name(
    model: str,
    data: str,
    chosen: Sequence[Choice] = (),
    tags: tuple[str, ...] = (),
    long_term: bool = False,
) -> str:
    """The branch name of an experiment, e.g. TEMP_PIX2PIX_DRIVE_NOAUG."""
    parts = [model, data, *(choice.word for choice in chosen), *tags]
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
        example = "TEMP_PIX2PIX_DRIVE_NOAUG"
        raise BranchError(
            f"branch {name!r} does not follow the naming rules:\n  - "
            + "\n  - ".join(problems)
            + f"\n  Example: {example} (see README)."
        )


def follows_rules(name: str | None) -> bool:
    """True for a TEMP_/MAIN_ experiment branch with a valid name."""
    return bool(name) and name != DEMO_BRANCH and not name_problems(name)


def experiment_branch() -> str | None:
    """The checked-out branch if it is a well-named experiment branch, else None."""
    branch = current_branch()
    return branch if follows_rules(branch) else None


def config_mismatches(
    branch: str, model: str, data: str, chosen: Sequence[Choice] = ()
) -> list[str]:
    """Where an experiment branch's name contradicts the composed config: its model, its dataset,
    or a choice it names with the word of another value than the config's."""
    parts = branch.split("_")[1:]
    mismatches = []
    if parts and parts[0] != as_part(model):
        mismatches.append(f"the branch says model {parts[0]}, the config trains {model}")
    if len(parts) > 1 and parts[1] != as_part(data):
        mismatches.append(f"the branch says dataset {parts[1]}, the config uses {data}")
    for choice in chosen:
        rivals = {as_part(w) for w in choice.words} & set(parts[2:])
        if rivals and as_part(choice.word) not in parts[2:]:
            said = ", ".join(sorted(rivals))
            mismatches.append(
                f"the branch says {said}, the config's {choice.key} gives {choice.word}"
            )
    return mismatches


def branch_warnings(model: str, data: str, chosen: Sequence[Choice] = ()) -> list[str]:
    """Warnings for a run whose experiment branch names other choices than its config."""
    branch = experiment_branch()
    if branch is None:
        return []
    return [
        f"branch {branch}: {problem}" for problem in config_mismatches(branch, model, data, chosen)
    ]
