"""Fixtures of the real-data tests: an isolated verification cache and loaders run once per session.

Real datasets are read in place from ``RECNOTES_DATA``; nothing is copied. Each loaded dataset is
kept for the session (loading ML-1M twice would only cost time), behind ``require_data`` so a
missing file skips the test (or fails it on CI).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from recnotes.data import paths

_loaded: dict[str, Any] = {}


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep verification stamps out of the user's cache folder (one folder for the session)."""
    cache = tmp_path_factory.getbasetemp() / "xdg-cache"
    cache.mkdir(exist_ok=True)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setattr(paths, "_stamps", None)


def _once(key: str, make: Callable[[], Any]) -> Any:
    if key not in _loaded:
        _loaded[key] = make()
    return _loaded[key]


ML1M_FILES = (
    "ml-1m/ratings_no_timestamp.dat.gz",
    "ml-1m/ratings_users0001-2999.dat.gz",
    "ml-1m/users.dat.gz",
    "ml-1m/movies.dat.gz",
)
NCF_FILES = ("ml-1m/ncf/ml-1m.test.rating.gz", "ml-1m/ncf/ml-1m.test.negative.gz")
FRAPPE_FILES = (
    "frappe/frappe.csv.gz",
    "frappe/meta.csv.gz",
    "frappe/nfm/frappe.validation.libfm.gz",
    "frappe/nfm/frappe.test.libfm.gz",
)


@pytest.fixture
def ml1m(require_data):
    from recnotes.data.datasets import load_movielens_1m

    require_data(*ML1M_FILES)
    return _once("ml1m", load_movielens_1m)


@pytest.fixture
def ncf(require_data, ml1m):
    from recnotes.data.datasets import load_ncf_movielens_1m

    require_data(*NCF_FILES)
    return _once("ncf", lambda: load_ncf_movielens_1m(ratings=ml1m.ratings))


@pytest.fixture
def ml1m_ctr(ml1m):
    from recnotes.data.datasets import movielens_1m_ctr

    return _once("ml1m_ctr", lambda: movielens_1m_ctr(data=ml1m, seed=0))


@pytest.fixture
def frappe(require_data):
    from recnotes.data.datasets import load_frappe

    require_data(*FRAPPE_FILES)
    return _once("frappe", load_frappe)


@pytest.fixture
def census(require_data):
    from recnotes.data.datasets import load_census_income

    require_data("census-income/census-income.test.gz")
    return _once("census", load_census_income)
