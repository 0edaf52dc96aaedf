"""From a config group to its object, with every refused value a one-line error naming its key.

`build(cfg.trainer, "trainer")` is `hydra.utils.instantiate` with two additions. Before the call,
each scalar argument is checked against the type hints of the constructor it goes to (a number
where an `int` is expected, one of a `Literal`'s values), so `trainer.max_epochs=abc` stops here
rather than deep inside a fit. After it, whatever the constructor raised is a ConfigError that
names the group and the user's overrides in it, instead of Hydra's wrapper and a traceback.
Entry scripts build every object this way before an experiment folder is claimed, so a mistake
leaves nothing behind.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Iterable
from typing import Any

from utils.base import UserError


class ConfigError(UserError):
    """A config value that the object it configures refuses."""


def build(node: Any, key: str, overrides: Iterable[str] = (), **kwargs: Any) -> Any:
    """`instantiate(node, **kwargs)` for the config group `key` (e.g. "model"); raises a
    ConfigError naming the key, the value and what is allowed when a value is refused."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    check_arguments(OmegaConf.to_container(node, resolve=True), key)
    try:
        return instantiate(node, **kwargs)
    except Exception as error:  # noqa: BLE001  (any refusal of a config value, said in one line)
        while isinstance(error, InstantiationException) and error.__cause__ is not None:
            error = error.__cause__
        if isinstance(error, UserError):
            raise error from None
        yours = [o for o in overrides if _under(o.split("=", 1)[0].lstrip("+~"), key)]
        said = f" You set: {' '.join(yours)}." if yours else ""
        reason = str(error).rstrip(".")
        raise ConfigError(
            f"{key}: {type(error).__name__}: {reason}.{said} The keys and their allowed "
            f"values are in conf/{key.split('.')[0]}/."
        ) from None


def build_each(
    group: Any, key: str, overrides: Iterable[str] = (), given: dict[str, Any] | None = None
) -> list:
    """Build every object of a config group such as `logger` or `callbacks`; nulls are skipped.
    Each value of `given` replaces the node's own where the node has that key (a run's id)."""
    return [
        build(
            node,
            f"{key}.{name}",
            overrides,
            **{k: v for k, v in (given or {}).items() if k in node},
        )
        for name, node in (group or {}).items()
        if node is not None
    ]


def check_arguments(node: Any, key: str) -> None:
    """Check each plain value (number, string, bool, null) of `node` and of the nodes inside it
    against the type hints of their `_target_`; raise a ConfigError for the first mismatch."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            check_arguments(item, f"{key}[{index}]")
        return
    if not isinstance(node, dict):
        return
    hints = _hints(node.get("_target_"))
    for name, value in node.items():
        if name.startswith("_"):
            continue
        if isinstance(value, dict | list):
            check_arguments(value, f"{key}.{name}")
        elif name in hints and not _fits(value, hints[name]):
            raise ConfigError(
                f"{key}.{name}={value!r}: expected {_describe(hints[name])} "
                f"({_dotted(node['_target_'])} refuses {type(value).__name__})."
            )


def _under(override_key: str, key: str) -> bool:
    return override_key == key or override_key.startswith(key + ".")


def _dotted(target: str) -> str:
    return target.rsplit(".", 1)[-1]


def _hints(target: Any) -> dict[str, Any]:
    """The constructor's type hints, or {} where they cannot be read (no target, C code...)."""
    if not isinstance(target, str):
        return {}
    from hydra.utils import get_method

    try:
        function = get_method(target)
        function = function.__init__ if inspect.isclass(function) else function
        return typing.get_type_hints(function)
    except Exception:  # noqa: BLE001  (unreadable hints: nothing to check, the call still is)
        return {}


def _fits(value: Any, hint: Any) -> bool:
    """Whether a plain config value may be passed where `hint` is expected; True for any hint
    this check does not understand (classes, containers, callables): only clear mismatches fail."""
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin is typing.Union or type(hint).__name__ == "UnionType":
        return any(_fits(value, arm) for arm in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if inspect.isclass(hint) and value is not None:
        return isinstance(value, hint)  # a string where a Tensor or a Path is expected
    return True  # null, a container, a callable...: left to the constructor


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is typing.Union or type(hint).__name__ == "UnionType":
        arms = [_describe(arm) for arm in typing.get_args(hint)]
        return " or ".join(dict.fromkeys(arm for arm in arms if arm))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(hint))
    names = {bool: "true/false", int: "a whole number", float: "a number", str: "a string"}
    if hint is type(None):
        return "null"
    return names.get(hint, getattr(hint, "__name__", str(hint)))
