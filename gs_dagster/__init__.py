"""gs-dagster: the Dagster project. Its stage assets and resources keep the card's top-level folders
(`assets/`, `resources/`) but live under this package's namespace, as `gs_dagster.assets` and
`gs_dagster.resources`, so nothing named `assets` or `resources` (a PyPI project's name) is installed.

An installed wheel holds them as real subpackages (pyproject.toml's package-dir mapping). From a
checkout (an editable install, or PYTHONPATH at the repository root) they are the folders beside this
package: registered here, before anything imports them, with the folder as their search path.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

#: The card's top-level folders that are subpackages of gs_dagster.
FOLDER_PACKAGES = ("assets", "resources")


def _register_checkout_folders() -> None:
    here = Path(__file__).resolve().parent
    root = here.parent
    if not (root / "pyproject.toml").is_file():  # installed: the subpackages are inside this package
        return
    for name in FOLDER_PACKAGES:
        qualified = f"{__name__}.{name}"
        folder = root / name
        if qualified in sys.modules or (here / name).is_dir() or not (folder / "__init__.py").is_file():
            continue
        spec = importlib.util.spec_from_file_location(
            qualified, folder / "__init__.py", submodule_search_locations=[str(folder)]
        )
        if spec is None or spec.loader is None:  # pragma: no cover - a folder with __init__.py always has one
            continue
        module = importlib.util.module_from_spec(spec)
        sys.modules[qualified] = module
        spec.loader.exec_module(module)
        setattr(sys.modules[__name__], name, module)


_register_checkout_folders()
