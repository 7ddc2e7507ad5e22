"""The try-it file of the HSTU note runs and prints what the note promises.

The file trains HSTU on the embedded synthetic clicks and ranks every user's test item against all
items; the test reads back the printed output properties and metrics and compares HSTU with the
popularity line the same file prints.
"""

from __future__ import annotations

import re
import runpy
from pathlib import Path

SNIPPETS = Path(__file__).resolve().parents[2] / "docs" / "snippets"
METRICS = r"HR@10 = ([0-9.]+)\s+NDCG@10 = ([0-9.]+)"


def metrics(label: str, out: str) -> tuple[float, float]:
    found = re.search(label + r"\s+" + METRICS, out)
    assert found, f"no {label!r} line in:\n{out}"
    return float(found.group(1)), float(found.group(2))


def test_hstu_snippet_has_unit_outputs_and_beats_popularity(capsys):
    runpy.run_path(str(SNIPPETS / "hstu_try.py"), run_name="__main__")
    out = capsys.readouterr().out
    padding = re.search(
        r"a short history: (\d+) padding positions, outputs there all zero: (\w+)", out
    )
    assert padding and int(padding.group(1)) > 0 and padding.group(2) == "True", out
    assert "real positions unit norm: True" in out, out
    assert "user vectors have unit norm: True" in out, out
    hr, ndcg = metrics("HSTU", out)
    pop_hr, pop_ndcg = metrics("popularity", out)
    assert ndcg > pop_ndcg + 0.02, out
    assert hr > pop_hr, out
    found = re.search(r"top-5 item ids: \[([0-9, ]+)\]", out)
    assert found, out
    top = [int(t) for t in found.group(1).split(",")]
    assert len(set(top)) == 5 and all(1 <= i <= 300 for i in top), out
