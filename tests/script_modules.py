"""Import the repository's scripts (``experiments/``, ``benchmarks/``) in tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


def load_script(relpath: str) -> ModuleType:
    """Import ``REPO / relpath`` as a module named after the file, registered in ``sys.modules``.

    Registration matters: a script's dataclasses look their module up by name while being built.
    Each call imports the file afresh.
    """
    path = REPO / relpath
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
