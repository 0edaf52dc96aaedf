"""A Hydra plugin of the test suite: the repository's conf/local/default.yaml never reaches a test.

Every conf/*.yaml ends its defaults with `optional local: default`, the settings a user keeps for
their own machine (git ignores them). The suite checks the configuration as committed, so for a
composition of this repository's conf/ the plugin puts an empty local/default.yaml ahead of it on
Hydra's search path: Hydra takes the first config of a name it finds. Other config folders (a fork
of the repository, a copy of conf/ made by a test) are left as they are.

Hydra loads plugins from the `hydra_plugins` package of every folder on the Python path:
tests/conftest.py puts tests/suite_plugins on it, in its own process and in the scripts it runs.
"""

from __future__ import annotations

from pathlib import Path

from hydra.core.config_search_path import ConfigSearchPath, SearchPathQuery
from hydra.plugins.search_path_plugin import SearchPathPlugin

REPOSITORY_CONF = Path(__file__).resolve().parents[3] / "conf"
EMPTY_LOCAL = Path(__file__).resolve().parents[1] / "empty_local"


class HideLocalSettings(SearchPathPlugin):
    """Shadow conf/local/ of this repository with a folder whose local/default.yaml is empty."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        main = [element.path for element in search_path.get_path() if element.provider == "main"]
        # The main folder is a plain path or file://...; pkg:// is a package's, never conf/.
        if main and Path(main[0].removeprefix("file://")).resolve() == REPOSITORY_CONF:
            search_path.prepend(
                "tests", f"file://{EMPTY_LOCAL}", anchor=SearchPathQuery(provider="main")
            )
