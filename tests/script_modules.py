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


def run_quick_benchmark(relpath: str, out: Path) -> tuple[ModuleType, dict]:
    """Run a benchmark script's ``main(["--quick", "--out", out])``; check and return its report.

    Checks what every benchmark report carries (``recnotes.results.benchmark_report``): the command
    that re-runs it, and a non-empty commit, device, date, load average and settings. Returns the
    script's module and the report read back from ``out``.
    """
    import json

    bench = load_script(relpath)
    bench.main(["--quick", "--out", str(out)])
    report = json.loads(Path(out).read_text(encoding="utf-8"))
    assert report["command"] == f"python {relpath} --quick --out {out}"
    for key in ("commit", "device", "date", "load_average", "settings"):
        assert report[key], key
    return bench, report
