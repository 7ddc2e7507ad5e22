"""The try-it files of the STAMP and BERT4Rec notes run and print what the notes promise.

Each file trains on the embedded synthetic clicks and ranks every user's test item against all
items; the tests read the printed metrics back and compare them with the popularity line the same
file prints, so a snippet that stops learning (or stops printing) fails here.
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


def ids(pattern: str, out: str) -> list[int]:
    found = re.search(pattern + r"\s*\[([0-9, ]*)\]", out)
    assert found, f"no {pattern!r} in:\n{out}"
    return [int(t) for t in found.group(1).split(",") if t.strip()]


def test_stamp_snippet_beats_popularity(capsys):
    out = run("stamp_try.py", capsys)
    assert len(ids(r"history_ids\[0, -5:\]:", out)) == 5, out
    hr, ndcg = metrics("STAMP", out)
    pop_hr, pop_ndcg = metrics("popularity", out)
    assert ndcg > pop_ndcg + 0.02, out
    assert hr > pop_hr, out
    top = ids("top-5 item ids:", out)
    assert len(set(top)) == 5 and all(1 <= i <= 300 for i in top), out


def test_bert4rec_snippet_masks_then_beats_popularity(capsys):
    out = run("bert4rec_try.py", capsys)
    sequence = ids(r"sequence\[0, -8:\]:", out)
    tokens = ids(r"tokens\[0, -8:\]:", out)
    mask_id = int(re.search(r"\[mask\] = (\d+)", out).group(1))
    assert mask_id == 301, out  # one id past the 300 items and the padding id 0
    # every token is either the item itself or [mask]; the masked ones hide exactly the targets
    hidden = [s for s, t in zip(sequence, tokens, strict=True) if t == mask_id]
    assert all(t in (s, mask_id) for s, t in zip(sequence, tokens, strict=True)), out
    assert hidden and all(s > 0 for s in hidden), out
    assert ids("cloze targets:", out)[-len(hidden) :] == hidden, out
    hr, ndcg = metrics("BERT4Rec", out)
    pop_hr, pop_ndcg = metrics("popularity", out)
    assert ndcg > pop_ndcg + 0.02, out
    assert hr > pop_hr, out
    top = ids("top-5 item ids:", out)
    assert len(set(top)) == 5 and all(1 <= i <= 300 for i in top), out
