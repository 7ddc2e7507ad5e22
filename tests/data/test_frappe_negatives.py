"""experiments/frappe_negatives.py: the negative-popularity figures on a hand-made split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from script_modules import load_script

script = load_script("experiments/frappe_negatives.py")


def test_negative_stats_by_hand():
    popularity = np.array([0.0, 100.0, 2.0, 8.0, 5.0])  # rows per item code
    rows = pd.DataFrame({"label": [1, 0, 0, 1, 0, 0], "item_id": [1, 2, 3, 1, 4, 2]})
    s = script.negative_stats(rows, popularity)
    assert (s["rows"], s["negatives"], s["distinct_negative_items"]) == (6, 4, 3)
    assert s["negative_pop_mean"] == pytest.approx((2 + 8 + 5 + 2) / 4)
    assert s["negative_pop_median"] == pytest.approx(3.5)
    assert s["negative_share_pop_le_5"] == pytest.approx(0.75)
    assert s["popularity_auc"] == pytest.approx(1.0)  # both positives are the most popular item
    # a positive of popularity 2 ties two negatives (half each) and loses to two; the other wins 4
    rows.loc[0, "item_id"] = 2
    assert script.negative_stats(rows, popularity)["popularity_auc"] == pytest.approx(5 / 8)


def test_item_popularity_counts_log_rows(require_data):
    from recnotes.data.datasets import load_frappe

    require_data("frappe/frappe.csv.gz")
    data = load_frappe()
    pop = script.item_popularity(data)
    assert pop.shape == (data.field_sizes["item_id"],)
    assert pop.sum() == len(data.logs)
    assert (pop > 0).all()  # every item code comes from the log
