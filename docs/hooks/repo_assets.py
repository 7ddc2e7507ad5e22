"""MkDocs hook: serve the repository's ``assets/`` folder (diagrams shared with the README) at ``/assets/``.

The README shows ``assets/pipeline.svg``; pages show the same file as ``../assets/pipeline.svg``
(relative to ``docs/<lang>/``, so the link works in both languages). One file, no copy to drift.
A file of the same name under ``docs/assets/`` would be ambiguous, so it is an error.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

ASSETS = Path(__file__).resolve().parents[2] / "assets"


def on_files(files, config):
    if not ASSETS.is_dir():
        return files
    root = ASSETS.parent
    for path in sorted(p for p in ASSETS.rglob("*") if p.is_file()):
        uri = path.relative_to(root).as_posix()  # "assets/pipeline.svg"
        if files.get_file_from_path(uri) is not None:
            raise PluginError(f"{uri} exists in the repository and under docs/: keep one")
        files.append(
            File(
                uri,
                src_dir=str(root),
                dest_dir=config.site_dir,
                use_directory_urls=config.use_directory_urls,
            )
        )
    return files
