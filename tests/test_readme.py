"""The README's quick start is a real, tested file, and its install commands pin torch."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNIPPET = ROOT / "docs" / "snippets" / "quickstart.py"


def readme_python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_quick_start_is_the_tested_snippet():
    blocks = readme_python_blocks()
    assert blocks, "the README has no python block"
    assert blocks[0] == SNIPPET.read_text(encoding="utf-8")
    assert len(blocks[0].strip().splitlines()) <= 16


def test_quick_start_runs_and_learns(capsys):
    runpy.run_path(str(SNIPPET), run_name="__main__")
    out = capsys.readouterr().out
    match = re.search(r"test AUC (\d\.\d+), LogLoss (\d\.\d+)", out)
    assert match, out
    ours = float(match.group(1))
    popularity = item_click_rate_auc()
    assert abs(popularity - 0.72) < 0.005  # the figure the README quotes
    assert ours > popularity + 0.02


def item_click_rate_auc() -> float:
    """The baseline the README compares with: each item's smoothed click rate in the training rows."""
    import torch

    from recnotes.data import make_synthetic, random_split
    from recnotes.metrics import auc

    data = make_synthetic(seed=0)
    table = data.ctr_table()
    train, _, test = (table.subset(p.index.to_numpy()) for p in random_split(data.impressions, seed=0))
    items, clicks = train.columns["item_ids"], train.columns["click"]
    size = table.schema["item_ids"].vocab_size
    shown = torch.bincount(items, minlength=size).float()
    clicked = torch.bincount(items, weights=clicks, minlength=size)
    rate = (clicked + 10 * clicks.mean()) / (shown + 10)
    return auc(test.columns["click"], rate[test.columns["item_ids"]])


def test_install_commands_pin_torch():
    dev = (ROOT / "dev.py").read_text(encoding="utf-8")
    assert 'TORCH = os.environ.get("RECNOTES_TORCH", "torch==2.13.0")' in dev
    assert "python3 dev.py serve" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "python3 dev.py test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
