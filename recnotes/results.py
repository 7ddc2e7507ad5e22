"""Results as data: one JSON file per experiment, and the tables the site renders from them.

A reproduced number is never typed into a page. An experiment writes a :class:`Result` to
``results/<dataset>/<model>-<tag>.json``; the site's results pages and each note's "results vs paper"
table are rendered from those files by :func:`render_table`.

A results file holds:

============  ==============================================================================
key           meaning
============  ==============================================================================
model         registry name of the model (``"neumf"``)
dataset       dataset name (``"ml-1m"``)
protocol      named protocol (see the data and evaluation page), e.g. ``"ncf-loo-99neg"``
metrics       ``{metric: value}`` — ours; a metric over several seeds also has ``metric_std``
paper         ``{metric: value}`` the paper (or benchmark) reports, or ``{}``
source        where ``paper`` comes from (``"He et al. 2017, Table 2"``)
command       the exact command that re-runs the experiment
commit        git commit of the code that ran it
device        the device, in words (``"cpu: 2 cores"`` or the GPU name)
wall_time_s   wall-clock seconds of the run
date          ISO date of the run
seeds         list of seeds the metrics average over
config        the model and training configuration
notes         differences from the paper's protocol, in one or two sentences
============  ==============================================================================
"""

from __future__ import annotations

import json
import math
import platform
import statistics
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

__all__ = ["Result", "load_results", "render_table", "result_label", "git_commit", "describe_device",
           "ensure_venv", "RESULTS_DIR"]  # fmt: skip

#: Where results files live in the repository.
RESULTS_DIR = Path(__file__).resolve().parent.parent / "results"

_REQUIRED = ("model", "dataset", "protocol", "metrics", "command", "commit", "device", "wall_time_s", "date")


@dataclass
class Result:
    """One experiment's outcome. See the module docstring for the meaning of each field.

    Example:
        >>> r = Result(model="toy", dataset="synthetic", protocol="ctr-random-80-10-10",
        ...            metrics={"auc": 0.75}, command="python -m recnotes train toy",
        ...            commit="abc", device="cpu", wall_time_s=1.0)
        >>> Result.from_dict(r.to_dict()).metrics["auc"]
        0.75
    """

    model: str
    dataset: str
    protocol: str
    metrics: dict[str, float]
    command: str
    commit: str
    device: str
    wall_time_s: float
    date: str = field(default_factory=lambda: date.today().isoformat())
    paper: dict[str, float] = field(default_factory=dict)
    source: str = ""
    seeds: list[int] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    notes: str = ""

    def __post_init__(self) -> None:
        for key, value in self.metrics.items():
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"result metric '{key}' must be a finite number, got {value!r}")
        if not self.command.strip():
            raise ValueError("a result needs the command that re-runs it")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Result:
        missing = [k for k in _REQUIRED if k not in data]
        if missing:
            raise ValueError(f"results file lacks required keys {missing}")
        known = {f for f in cls.__dataclass_fields__}
        unknown = [k for k in data if k not in known]
        if unknown:
            raise ValueError(f"results file has unknown keys {unknown}")
        return cls(**dict(data))

    def save(self, path: str | Path) -> Path:
        """Write the JSON file (creating folders); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n", encoding="utf-8")
        tmp.replace(path)
        return path


def load_results(root: str | Path = RESULTS_DIR, **where: str) -> list[Result]:
    """Every results file under ``root`` whose fields equal the ``where`` filters.

    A file that does not parse is an error naming the file, never silently skipped. Files under
    ``benchmarks/`` hold speed measurements with their own format (not results) and are not read.
    """
    root = Path(root)
    out: list[Result] = []
    for path in sorted(root.rglob("*.json")) if root.exists() else []:
        if path.relative_to(root).parts[0] == "benchmarks":
            continue
        try:
            result = Result.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError) as err:
            raise ValueError(f"{path}: {err}") from err
        if all(getattr(result, k) == v for k, v in where.items()):
            result.file_stem = path.stem  # names the variant when one model has several files
            out.append(result)
    return out


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}"


_HEADERS = {
    "en": {"model": "Model", "dataset": "Dataset", "protocol": "Protocol", "ours": "ours",
           "paper": "paper", "source": "Source", "none": "No results yet."},
    "zh": {"model": "模型", "dataset": "数据集", "protocol": "评测协议", "ours": "本项目",
           "paper": "论文", "source": "来源", "none": "暂无结果。"},
}


def result_label(result: Result) -> str:
    """The model's name, with the file's variant when the file is not named after the model alone.

    ``results/beauty/sasrec.json`` reads ``sasrec``; ``results/beauty/sasrec-bce.json`` reads
    ``sasrec (bce)``, and a file named otherwise shows its whole name (``sasrec (other)``).

    Example:
        >>> r = Result(model="sasrec", dataset="beauty", protocol="amazon-loo-full",
        ...            metrics={}, command="python x.py", commit="0", device="cpu", wall_time_s=1.0)
        >>> r.file_stem = "sasrec-bce"
        >>> result_label(r)
        'sasrec (bce)'
    """
    stem = getattr(result, "file_stem", "") or result.model
    if stem == result.model:
        return result.model
    variant = stem.removeprefix(f"{result.model}-") or stem
    return f"{result.model} ({variant})"


def render_table(results: Iterable[Result], metrics: Iterable[str] | None = None, lang: str = "en") -> str:
    """A Markdown table: one row per result, ours beside the paper's number for each metric.

    Args:
        results: the results to show.
        metrics: which metrics (columns); default every metric that any result has.
        lang: ``"en"`` or ``"zh"`` (headers only; numbers and names are shared).
    """
    if lang not in _HEADERS:
        raise ValueError(f"lang must be one of {sorted(_HEADERS)}, got {lang!r}")
    h = _HEADERS[lang]
    results = list(results)
    if not results:
        return f"*{h['none']}*\n"
    if metrics is None:
        seen: dict[str, None] = {}
        for r in results:
            for m in r.metrics:
                if not m.endswith("_std"):
                    seen[m] = None
        metrics = list(seen)
    metrics = list(metrics)
    head = [h["model"], h["dataset"], h["protocol"]]
    for m in metrics:
        head += [f"{m} ({h['ours']})", f"{m} ({h['paper']})"]
    head.append(h["source"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        row = [result_label(r), r.dataset, f"`{r.protocol}`"]
        for m in metrics:
            ours = _fmt(r.metrics.get(m))
            # A spread over one seed is always 0 and says nothing: show it only for 2+ seeds.
            if f"{m}_std" in r.metrics and len(r.seeds) != 1:
                ours += f" ± {_fmt(r.metrics[f'{m}_std'])}"
            row += [ours, _fmt(r.paper.get(m))]
        row.append(r.source or "–")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def git_commit(short: bool = True) -> str:
    """The current git commit (``"unknown"`` outside a checkout).

    ``"-dirty"`` is appended when tracked files under ``recnotes/`` or ``experiments/`` differ from
    that commit, so a results file says when the code that produced it was not yet committed.
    """
    try:
        args = ["git", "rev-parse", "--short" if short else "--verify", "HEAD"]
        commit = subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()
        status = ["git", "status", "--porcelain", "--untracked-files=no", "--", "recnotes", "experiments"]
        changed = subprocess.run(status, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}-dirty" if changed else commit


def describe_device(device: str = "cpu") -> str:
    """The device in words, for a results file."""
    import os

    import torch

    if str(device).startswith("cuda") and torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)}"
    return f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def benchmark_report(script: str, argv: list[str] | None, *, load_before: tuple[float, ...] | list[float],
                     settings: dict, figures: dict, threads: int = 1) -> dict:  # fmt: skip
    """The report a benchmark script writes: its provenance header, then its settings and figures.

    Args:
        script: the script's path from the repository root (``"benchmarks/bench_rerank.py"``).
        argv: the arguments it was given (``None``: the command line's).
        load_before: ``os.getloadavg()`` before the measurement; the load after is taken here.
        settings: what was measured and how.
        figures: the measurements.
        threads: torch CPU threads the figures were taken with.

    Example:
        >>> r = benchmark_report("benchmarks/x.py", ["--quick"], load_before=(0.1, 0.2, 0.3),
        ...                      settings={"quick": True}, figures={"s": 1.0})
        >>> r["command"], list(r)[-2:]
        ('python benchmarks/x.py --quick', ['settings', 'figures'])
    """
    import os
    import sys

    import torch

    args = sys.argv[1:] if argv is None else list(argv)
    return {
        "command": " ".join(["python", script, *args]),
        "commit": git_commit(),
        "device": describe_device("cpu") + f", torch threads: {threads}",
        "torch": torch.__version__,
        "date": date.today().isoformat(),
        # a shared machine's load moves every timing: say what it was
        "load_average": {"before": list(load_before), "after": list(os.getloadavg())},
        "settings": settings,
        "figures": figures,
    }


def time_alternately(runs, *, steps: int, warmup: int, repeats: int) -> list[float]:
    """Median seconds per call of each of several callables, timed in alternating runs.

    Each callable is called ``warmup`` times untimed, then ``repeats`` timed runs of ``steps`` calls
    each. The callables take turns run by run, and the order of the turns flips every run, so a
    machine whose speed drifts during the measurement slows them all alike.

    Example:
        >>> fast, slow = time_alternately([lambda: None, lambda: sum(range(20000))],
        ...                               steps=3, warmup=1, repeats=3)
        >>> fast < slow
        True
    """
    runs = list(runs)
    for run in runs:
        for _ in range(warmup):
            run()
    times: list[list[float]] = [[] for _ in runs]
    for r in range(repeats):
        order = range(len(runs)) if r % 2 == 0 else reversed(range(len(runs)))
        for k in order:
            start = time.perf_counter()
            for _ in range(steps):
                runs[k]()
            times[k].append((time.perf_counter() - start) / steps)
    return [statistics.median(t) for t in times]


def write_report(report: dict, out: Path) -> Path:
    """Write a benchmark report as indented JSON (folders created) and say where."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return out


def ensure_venv(venv: str | Path, pins: Iterable[str]) -> Path:
    """The Python of a separate virtual environment holding ``pins`` (``"name==version"``).

    Other libraries that recnotes is compared with (``benchmarks/peer_speed.py``) or cross-checked
    against (``experiments/fuxictr_frappe.py``) are never its dependencies: they live in their own
    environment. If ``venv`` already has every pin, its Python is returned as is; otherwise the
    environment is created and the pins installed with one pip command (pin torch, or pip pulls a
    CUDA build).

    ``tests/test_results.py`` checks both paths with ``subprocess.run`` stubbed out.
    """
    import sys

    venv, pins = Path(venv), list(pins)
    python = venv / "bin" / "python"
    wanted = dict(pin.split("==") for pin in pins)
    probe = (
        "import sys; from importlib.metadata import version; "
        f"sys.exit(any(not version(n).startswith(v) for n, v in {wanted!r}.items()))"
    )
    if python.exists() and subprocess.run([python, "-c", probe], capture_output=True).returncode == 0:
        return python
    print(f"creating {venv} and installing {' '.join(pins)} (one pip command)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([python, "-m", "pip", "install", *pins], check=True)
    return python
