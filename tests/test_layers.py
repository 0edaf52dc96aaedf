"""The architecture, checked: imports run one way, and the tools that need no install need none.

Every import in the project is read with `ast`, at any depth (an import inside a function is
still a dependency), so a cycle cannot hide behind a deferred import.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

ENTRY_SCRIPTS = {"train", "test", "predict"}
PACKAGES = ("bookkeeping", "data", "src", "utils", "benchmarks")
MODEL_SIDE = ("data", "src", "utils")
# What every fork keeps; the rest (src/, data/, utils/vessels/, utils/loss.py, benchmarks/) is the
# worked example, which a fork replaces, and which the generic side reaches only through conf/.
GENERIC = ("train", "test", "predict", "bookkeeping", "utils.base", "utils.engine")
# Words of the vessel task that no generic file may hold, in code or in comments.
TASK_WORDS = re.compile(r"\b(vessels?|fov|field of view|f1|auroc|auc|augment\w*|aug|noaug)\b", re.I)


def project_modules() -> dict[str, Path]:
    """{dotted module name: file} of every Python file of the project (tests excluded)."""
    modules = {name: REPO / f"{name}.py" for name in sorted(ENTRY_SCRIPTS)}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `path` imports, wherever in the file the import statement is."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(path, modules) - {name} for name, path in modules.items()}


def test_there_is_no_import_cycle() -> None:
    graph = import_graph()
    state: dict[str, str] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                cycle = trail[trail.index(target) :] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, [*trail, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_no_module_imports_an_entry_script() -> None:
    for module, targets in import_graph().items():
        assert not targets & ENTRY_SCRIPTS, f"{module} imports {targets & ENTRY_SCRIPTS}"


def is_generic(module: str) -> bool:
    return any(module == g or module.startswith(g + ".") for g in GENERIC)


def test_the_generic_side_never_imports_the_worked_example() -> None:
    for module, targets in import_graph().items():
        if is_generic(module):
            leaks = {t for t in targets if not is_generic(t)}
            assert not leaks, f"{module} imports the worked example's {leaks}"


def generic_files() -> list[Path]:
    """The Python files of the generic side, and the config root's files that every fork keeps."""
    files = [path for name, path in project_modules().items() if is_generic(name)]
    conf = REPO / "conf"
    files += sorted(conf.glob("*.yaml")) + [REPO / "dvc.yaml"]
    for group in ("callbacks", "trainer", "logger", "hydra", "paths", "debug"):
        files += sorted((conf / group).rglob("*.yaml"))
    return files


@pytest.mark.parametrize("path", generic_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_generic_files_know_nothing_of_vessels(path: Path) -> None:
    """Names of the worked example's own config files (task: vessels, predictor: vessels) are the
    config root's defaults, like model: unet; everything else is the task's to say."""
    text = re.sub(r"(task|predictor): vessels", "", path.read_text())
    text = re.sub(r"\b(TEMP|MAIN)_[A-Z0-9_-]+", "", text)  # the seed's branch examples
    text = text.replace("conf/task/vessels.yaml", "")
    found = sorted({m.group(0) for m in TASK_WORDS.finditer(text)})
    assert not found, f"{path.relative_to(REPO)} names the vessel task: {found}"


def test_model_side_never_imports_the_bookkeeping() -> None:
    for module, targets in import_graph().items():
        if module.startswith(MODEL_SIDE):
            leaks = {t for t in targets if t.startswith("bookkeeping")}
            assert not leaks, f"{module} imports {leaks}"


def test_bookkeeping_layers_import_downwards_only() -> None:
    order = ["git", "naming", "folder", "record", "config", "experiment"]
    graph = import_graph()
    for position, layer in enumerate(order):
        above = {f"bookkeeping.{name}" for name in order[position + 1 :]}
        tools = {"bookkeeping.branch", "bookkeeping.report", "bookkeeping.curves"}
        assert not graph[f"bookkeeping.{layer}"] & (above | tools), layer


def test_branch_tool_runs_on_a_bare_python() -> None:
    """The git hook runs `python3 -m bookkeeping.branch check` with no packages installed:
    `-S` leaves out every site-packages folder, this environment's included."""
    done = subprocess.run(
        [sys.executable, "-S", "-m", "bookkeeping.branch", "check", "TEMP_UNET_DRIVE_AUG"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "TEMP_UNET_DRIVE_AUG: OK"


def closure(starts: set[str], graph: dict[str, set[str]]) -> set[str]:
    """`starts` and every project module they import, transitively."""
    seen, pending = set(), list(starts)
    while pending:
        module = pending.pop()
        if module not in seen:
            seen.add(module)
            pending.extend(graph[module])
    return seen


def conf_targets(modules: dict[str, Path], stage: str) -> set[str]:
    """Project modules named by a `_target_` in the conf/ files a stage's script composes: train
    builds every one but the task's result writer, which only test builds."""
    found = set()
    other_script = {"train": "test.yaml", "test": "train.yaml"}[stage]

    def walk(node: object, key: str = "") -> None:
        if key == "result_writer" and stage == "train":
            return
        if isinstance(node, dict):
            name = str(node.get("_target_", ""))
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
            for child_key, child in node.items():
                walk(child, str(child_key))
        elif isinstance(node, list):
            for child in node:
                walk(child, key)

    for path in (REPO / "conf").rglob("*.yaml"):
        if path.parent == REPO / "conf" and path.name in (other_script, "predict.yaml"):
            continue
        if path.parent.name == "predictor":  # predict.py's, which no stage runs
            continue
        walk(yaml.safe_load(path.read_text()))
    return found


# The module each DVC stage runs; train and test also run what their conf/ names.
STAGE_MODULES = {
    "generate": "data.synthetic",
    "prepare": "data.prepare",
    "check": "data.check",
    "train": "train",
    "test": "test",
}


def stage_deps(stage: str) -> list[str]:
    """The dependencies of a stage of dvc.yaml or data/dvc.yaml (a foreach stage's, per item)."""
    for pipeline in ("dvc.yaml", "data/dvc.yaml"):
        stages = yaml.safe_load((REPO / pipeline).read_text())["stages"]
        if stage in stages:
            return stages[stage].get("do", stages[stage])["deps"]
    raise AssertionError(f"no stage {stage}")


@pytest.mark.parametrize("stage", list(STAGE_MODULES))
def test_dvc_stages_depend_on_the_code_they_import(stage: str) -> None:
    """Editing a tool the stage does not run (a report) must not make DVC retrain: a stage's
    deps are exactly its imports, or whole folders of the task's side (src/, utils/, data/)."""
    modules, graph = project_modules(), import_graph()
    # VesselDataModule.prepare_data imports data.prepare only when a manifest is missing, and in
    # the pipeline the prepare stage has written them all.
    graph["data.data"] = graph["data.data"] - {"data.prepare"}
    # Likewise data.prepare imports the generator only when the data folder is empty, and in the
    # pipeline the generate stage has filled it.
    graph["data.prepare"] = graph["data.prepare"] - {"data.synthetic"}
    targets = conf_targets(modules, stage) if stage in ("train", "test") else set()
    needed = closure({STAGE_MODULES[stage]} | targets, graph)
    needed_files = {str(modules[m].relative_to(REPO)) for m in needed}
    needed_files -= {f for f in needed_files if f.endswith("__init__.py")}
    deps = stage_deps(stage)
    whole_folders = [d + "/" for d in deps if (REPO / d).is_dir()]
    assert not set(whole_folders) - {"conf/", "src/", "utils/", "data/"}, whole_folders
    listed = {d for d in deps if d.endswith(".py")}
    missing = {f for f in needed_files - listed if not f.startswith(tuple(whole_folders))}
    assert not missing, f"stage {stage} lacks {sorted(missing)}"
    assert not listed - needed_files, f"stage {stage} depends on {sorted(listed - needed_files)}"
