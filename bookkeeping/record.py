"""The run record beside params.yaml: what ran, on which code, data and machine, and for how long.

record.yaml holds the command line and its Hydra overrides, the run id (W&B's too), the git
commit and branch, the Python and package versions, a content hash of the data, the hardware,
and one entry per session (a resumed run adds one) with its wall time, status and final metrics.
When the working tree has uncommitted changes, git.patch holds them, so the exact code can be
rebuilt. Nothing from the environment is recorded: secrets such as WANDB_API_KEY live there.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from bookkeeping.folder import ExperimentFolder
from bookkeeping.git import GitError, git

# Config keys and `key=value` arguments whose names say they hold a secret are never written.
SECRET_NAME = re.compile(r"(api_?key|token|secret|password|passwd)", re.IGNORECASE)
REDACTED = "<redacted>"
CODE_ROOT = Path(__file__).resolve().parents[1]


def redact(value: Any) -> Any:
    """A copy of a config (dicts, lists, scalars) with the values of secret-named keys replaced."""
    if isinstance(value, dict):
        return {k: REDACTED if SECRET_NAME.search(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def redact_argument(argument: str) -> str:
    """`wandb.api_key=abc` -> `wandb.api_key=<redacted>`; other arguments unchanged."""
    key, sep, _ = argument.partition("=")
    return f"{key}{sep}{REDACTED}" if sep and SECRET_NAME.search(key) else argument


def git_state(patch_path: Path, repo: Path = CODE_ROOT) -> dict:
    """Commit, branch and dirtiness of the code's repository (not of the working directory);
    writes its uncommitted changes to `patch_path` if there are any."""
    try:
        commit = git("rev-parse", "HEAD", cwd=repo)
        branch = git("rev-parse", "--abbrev-ref", "HEAD", cwd=repo)
        status = git("status", "--porcelain", "--untracked-files=all", cwd=repo)
        patch = git("diff", "HEAD", "--binary", cwd=repo)
    except GitError:
        return {"commit": None, "note": "not a git repository, or no commit yet"}
    untracked = [line[3:] for line in status.splitlines() if line.startswith("??")]
    if patch:
        patch_path.write_text(patch + "\n")  # git() strips the final newline `git apply` needs
    return {
        "commit": commit,
        "branch": branch,
        "dirty": bool(status),
        "patch": patch_path.name if patch else None,
        "untracked": untracked,
    }


def data_version(root: Path) -> dict:
    """A SHA-256 over every file in the dataset folder, its relative path and its bytes, in path
    order: it changes when any image, label, manifest or split assignment does, whether or not
    DVC tracks the folder, whatever the task's files are (`dvc.lock` records DVC's own hashes
    for pipeline runs)."""
    digest, files = hashlib.sha256(), 0
    root = Path(root)
    found = [  # linked folders too: a dataset may be a link to a shared copy
        Path(folder, name) for folder, _, names in os.walk(root, followlinks=True) for name in names
    ]
    for path in sorted(p for p in found if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes())
        files += 1
    return {"root": str(root), "files": files, "sha256": digest.hexdigest()}


def hardware() -> dict:
    """CPU, memory and accelerators of this machine."""
    import torch

    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if os.name == "posix" else 0
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {
        "machine": platform.machine(),
        "system": platform.platform(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gib": round(memory / 2**30, 1),
        "gpus": gpus,
    }


def packages() -> dict[str, str]:
    """Every installed distribution and its version, sorted by name."""
    found = {dist.metadata["Name"]: dist.version for dist in metadata.distributions()}
    return dict(sorted(found.items(), key=lambda item: item[0].lower()))


def read_record(folder: ExperimentFolder) -> dict:
    """The record of an experiment, or {} if it has none."""
    if not folder.record.is_file():
        return {}
    return yaml.safe_load(folder.record.read_text()) or {}


def new_run_id() -> str:
    """A short unique id for a new experiment (also its Weights & Biases run id)."""
    import uuid

    return uuid.uuid4().hex[:12]


def _write(folder: ExperimentFolder, record: dict) -> None:
    path = folder.record
    temporary = path.with_suffix(".tmp")
    temporary.write_text(yaml.safe_dump(record, sort_keys=False))
    os.replace(temporary, path)  # a kill mid-write leaves the previous record intact


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@contextmanager
def recorded_session(
    folder: ExperimentFolder, data_root: Path, overrides: list[str], run_id: str, resumed: bool
) -> Iterator[dict]:
    """Record the run around a `with` block; the caller puts final metrics in the yielded dict.

    A resumed run keeps its record and adds a session. A session ends as finished, interrupted
    (Ctrl+C, SIGTERM) or failed, and the record is rewritten at the start and at the end, so
    even a killed run leaves its provenance behind.
    """
    record = read_record(folder) if resumed else {}
    record.update(
        command=" ".join([Path(sys.executable).name, *map(redact_argument, sys.argv)]),
        overrides=[redact_argument(o) for o in overrides],
        run_id=run_id,
        git=git_state(folder.patch),
        python=platform.python_version(),
        data=data_version(data_root),
        hardware=hardware(),
        packages=packages(),
    )
    session = {"started": _now(), "status": "running", "resumed": resumed}
    record.setdefault("sessions", []).append(session)
    _write(folder, record)
    start = time.monotonic()
    try:
        yield session
        session["status"] = "finished"
    except (KeyboardInterrupt, SystemExit) as error:
        session["status"] = "interrupted"
        # Lightning ends a fit stopped by SIGTERM with a bare SystemExit (status 0) and one
        # stopped by Ctrl+C with status 1: report the signals' conventional statuses instead,
        # so shells and schedulers see that the run did not finish, and why.
        if isinstance(error, SystemExit) and isinstance(error.__context__, KeyboardInterrupt):
            raise SystemExit(128 + signal.SIGINT) from None
        if isinstance(error, SystemExit) and not error.code:
            raise SystemExit(128 + signal.SIGTERM) from None
        raise
    except BaseException:
        session["status"] = "failed"
        raise
    finally:
        session["ended"] = _now()
        session["wall_time_s"] = round(time.monotonic() - start, 2)
        record["wall_time_s"] = round(sum(s.get("wall_time_s", 0) for s in record["sessions"]), 2)
        _write(folder, record)
