"""Run git from Python. Standard library only, so the git hook and CI need no install."""

from __future__ import annotations

import subprocess
from pathlib import Path

from utils.base import UserError


class GitError(UserError):
    """A git command failed; the message carries git's own."""


def git(*args: str, cwd: Path | None = None) -> str:
    """Run git and return its stripped output; raise GitError with git's message on failure."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError as error:
        raise GitError("git is not installed or not on PATH") from error
    if done.returncode != 0:
        raise GitError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def current_branch(cwd: Path | None = None) -> str | None:
    """The checked-out branch, or None outside a repository or on a detached HEAD."""
    try:
        return git("branch", "--show-current", cwd=cwd) or None
    except GitError:
        return None
