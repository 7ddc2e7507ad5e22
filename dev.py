#!/usr/bin/env python3
"""Set-up and everyday commands for recnotes, needing nothing but Python 3.10+ and pip.

    python3 dev.py serve    create .venv, install, build and serve the site on http://127.0.0.1:8000
    python3 dev.py test     create .venv, install, run every test (what CI runs)
    python3 dev.py build    build the site into site/ (mkdocs build --strict)
    python3 dev.py lint     ruff check and format check
    python3 dev.py bench    run the benchmark scripts

The virtual environment is (re)installed when pyproject.toml changes. torch is pinned in the same pip
command as the project, because an unpinned torch in a fresh venv resolves a multi-GB CUDA build.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
TORCH = os.environ.get("RECNOTES_TORCH", "torch==2.13.0")
STAMP = VENV / ".recnotes-installed"


def run(*args: str | Path, **kwargs) -> None:
    print("+", " ".join(map(str, args)), flush=True)
    subprocess.run([str(a) for a in args], check=True, cwd=ROOT, **kwargs)


def install() -> None:
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + TORCH.encode()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted and PY.exists():
        return
    start = time.perf_counter()
    if not PY.exists():
        print(f"creating {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    run(PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(PY, "-m", "pip", "install", "--quiet", TORCH, "-e", ".[dev,ann]")
    STAMP.write_text(wanted + "\n")
    print(f"installed in {time.perf_counter() - start:.0f} s", flush=True)


def env() -> dict[str, str]:
    return {**os.environ, "NO_MKDOCS_2_WARNING": "1"}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in {"serve", "test", "build", "lint", "bench", "install"}:
        print(__doc__, file=sys.stderr)
        return 2
    command = argv[0]
    install()
    if command == "build":
        run(BIN / "mkdocs", "build", "--strict", env=env())
    elif command == "serve":
        run(BIN / "mkdocs", "build", "--strict", env=env())
        print("serving http://127.0.0.1:8000/ (en) and http://127.0.0.1:8000/zh/ — Ctrl-C stops", flush=True)
        run(BIN / "mkdocs", "serve", "--dev-addr", "127.0.0.1:8000", env=env())
    elif command == "test":
        run(PY, "-m", "pytest", env=env())
    elif command == "lint":
        run(BIN / "ruff", "check", "recnotes", "tests", "benchmarks", "dev.py")
        run(BIN / "ruff", "format", "--check", "recnotes", "tests", "benchmarks", "dev.py")
    elif command == "bench":
        for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
            run(PY, script, env=env())
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except subprocess.CalledProcessError as err:
        print(f"dev.py: command failed with exit code {err.returncode}", file=sys.stderr)
        sys.exit(err.returncode or 1)
    except KeyboardInterrupt:
        sys.exit(130)
