"""The try-it files of the SASRec and GRU4Rec notes run and print what the notes promise.

Each file trains on the embedded synthetic clicks and ranks every user's test item against all
items; the tests read the printed metrics back and check them against the popularity line the
same file prints, so a snippet that stops learning (or stops printing) fails here.
"""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

SNIPPETS = Path(__file__).resolve().parents[2] / "docs" / "snippets"
METRICS = r"HR@10 = ([0-9.]+)\s+NDCG@10 = ([0-9.]+)"


def run(name: str, capsys: pytest.CaptureFixture[str]) -> str:
    runpy.run_path(str(SNIPPETS / name), run_name="__main__")
    return capsys.readouterr().out


def metrics(label: str, out: str) -> tuple[float, float]:
    found = re.search(label + r"\s+" + METRICS, out)
    assert found, f"no {label!r} line in:\n{out}"
    return float(found.group(1)), float(found.group(2))


def top5(out: str) -> list[int]:
    found = re.search(r"top-5 item ids: \[([0-9, ]+)\]", out)
    assert found, out
    return [int(t) for t in found.group(1).split(",")]


def test_sasrec_snippet_beats_popularity_with_both_losses(capsys):
    out = run("sasrec_try.py", capsys)
    history = re.search(r"history_ids\[0, -5:\]: \[([0-9, ]+)\]", out).group(1).split(",")
    target = re.search(r"target_ids\[0, -5:\]:\s+\[([0-9, ]+)\]", out).group(1).split(",")
    # the target row is the history row shifted by one position
    assert [int(t) for t in history[1:]] == [int(t) for t in target[:-1]], out
    pop_hr, pop_ndcg = metrics(r"popularity", out)
    for loss in ("ce", "bce"):
        hr, ndcg = metrics(rf"SASRec, {loss.upper()}", out)
        assert ndcg > pop_ndcg + 0.02, (loss, out)
        assert hr > pop_hr, (loss, out)
    ids = top5(out)
    assert len(set(ids)) == 5 and all(1 <= i <= 300 for i in ids), out


def test_gru4rec_snippet_beats_popularity(capsys):
    out = run("gru4rec_try.py", capsys)
    assert re.search(r"users ranked: \d+, items: 300", out), out
    hr, ndcg = metrics(r"GRU4Rec", out)
    pop_hr, pop_ndcg = metrics(r"popularity", out)
    assert ndcg > pop_ndcg + 0.02, out
    assert hr > pop_hr, out
    ids = top5(out)
    assert len(set(ids)) == 5 and all(1 <= i <= 300 for i in ids), out
