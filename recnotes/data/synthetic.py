"""The embedded default dataset: seeded synthetic impressions with planted, learnable structure.

Every demo, doctest, notebook and learning test in recnotes runs on this data, offline and in seconds.
:func:`make_synthetic` simulates users who are shown slates of items over time and click and convert
on some of them. The simulation plants the structure each model family is meant to find:

* **latent tastes** - users and items have latent factors; affinity is their scaled dot product, and an
  item's factor is pulled towards its category's and brand's centroid (matrix factorisation, two-tower);
* **popularity skew** - items are exposed with Zipf-like weights and popular items are clicked more
  (the baseline every model must beat);
* **side features** - a user's age bucket, gender and region shift their taste and price sensitivity;
  an item's category, brand and price follow its factor (feature-based and cold-start models);
* **sequential dynamics** - a hidden intent category persists from the last click or follows a sparse
  Markov transition, and tastes drift towards recently clicked items (sequential recommenders);
* **two correlated labels** - ``click`` from affinity, popularity, intent and position, and
  ``conversion`` only after a click, driven partly by price sensitivity and a hidden item quality
  (multi-task models, ESMM);
* **cold start** - a fraction of users and items first appears after :attr:`SyntheticData.cold_start_time`,
  with full side features (meta-learning, cold-start evaluation).

Ids are 1-based everywhere; 0 is padding. The page ``docs/en/data/synthetic.md`` writes the generative
story as equations; the numbers ``(1)``-``(12)`` in comments below refer to them.

Shape legend: ``U`` users, ``I`` items, ``C`` categories, ``D`` latent dimension, ``S`` slate size,
``A`` users active at a simulation step, ``N`` impressions, ``L`` history length.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

import numpy as np
import pandas as pd
import torch

from recnotes.data.schema import Feature, Schema
from recnotes.data.table import FeatureTable

__all__ = [
    "SyntheticConfig",
    "SyntheticData",
    "SyntheticTruth",
    "make_synthetic",
    "tiny_ctr_batch",
    "EPOCH",
]

#: Timestamps are seconds since the Unix epoch; the simulated period starts on 2024-01-01 00:00 UTC.
EPOCH = 1_704_067_200
#: Seconds between two neighbouring positions of one slate (a feed scrolled from the top).
_POSITION_GAP_S = 10
#: Sharpness of a user's own category preference, Eq. (11).
_PREFERENCE_TEMPERATURE = 1.5
#: Random-walk step of the taste drift, Eq. (10).
_DRIFT_NOISE = 0.02

Pad = Literal["left", "right"]


@dataclass(frozen=True)
class SyntheticConfig:
    """Sizes and signal strengths of the synthetic dataset.

    The defaults make about 2,000 users, 1,000 items, 220,000 impressions and 50 clicks per user in
    well under a second; every default was chosen so that each planted signal is clearly learnable
    and no single one dominates (see the tests in ``tests/data/test_synthetic.py``).

    Example:
        >>> SyntheticConfig(num_users=100).num_users
        100
        >>> SyntheticConfig(slate_size=0)
        Traceback (most recent call last):
        ...
        ValueError: slate_size must be between 1 and 20 (items shown together), got 0
    """

    # -- sizes ---------------------------------------------------------------------------------
    num_users: int = 2_000
    num_items: int = 1_000
    num_categories: int = 20
    num_brands: int = 100  # five per category on average
    num_price_buckets: int = 5
    num_age_buckets: int = 7
    num_regions: int = 8
    num_activity_levels: int = 4
    latent_dim: int = 8
    impressions_per_user: float = 120.0  # mean over warm users; ~45% are clicked
    slate_size: int = 4
    num_days: int = 60  # span of the timestamps (longer only if the slates cannot fit)

    # -- exposure and popularity ---------------------------------------------------------------
    zipf_exponent: float = 0.8  # exposure weight of the item of popularity rank r is r^-s
    intent_share: float = 0.6  # share of slate slots filled from the current intent category

    # -- latent structure ----------------------------------------------------------------------
    side_feature_share: float = 0.7  # share of taste variance explained by age, gender, region
    category_share: float = 0.5  # share of item-factor variance from the category centroid
    brand_share: float = 0.2  # share of item-factor variance from the brand centroid

    # -- sequential dynamics -------------------------------------------------------------------
    category_stickiness: float = 0.6  # P(next intent = category of the last click)
    transition_share: float = 0.25  # P(next intent follows the category transition matrix)
    taste_drift: float = 0.1  # pull of a user's taste towards the item just clicked

    # -- click (Eq. 8) and conversion (Eq. 9) -------------------------------------------------
    # set so that about 45% of impressions are clicked and 40% of clicks convert, with no one
    # term drowning the others
    affinity_weight: float = 1.5
    popularity_weight: float = 0.5
    intent_weight: float = 0.8
    position_weight: float = 0.5
    click_bias: float = -1.8
    conversion_bias: float = -1.5
    conversion_affinity_weight: float = 0.75  # half the click's: a partly different signal
    price_weight: float = 1.2
    quality_weight: float = 0.7

    # -- cold start ----------------------------------------------------------------------------
    cold_user_fraction: float = 0.1
    cold_item_fraction: float = 0.1
    cold_period: float = 0.2  # the last share of the time span, in which cold entities appear

    def __post_init__(self) -> None:
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ValueError(message)

        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{f.name} must be a number, got {type(value).__name__}")
            if f.type == "int" and not isinstance(value, int):
                raise TypeError(f"{f.name} counts something and must be an int, got {value!r}")
        need(self.num_users >= 2, f"num_users must be at least 2, got {self.num_users}")
        need(
            self.num_categories >= 2,
            f"num_categories must be at least 2 (a transition needs somewhere to go), "
            f"got {self.num_categories}",
        )
        need(
            self.num_items >= self.num_categories,
            f"num_items ({self.num_items}) must be at least num_categories "
            f"({self.num_categories}) so that every category has an item",
        )
        need(
            self.num_brands >= self.num_categories,
            f"num_brands ({self.num_brands}) must be at least num_categories "
            f"({self.num_categories}) so that every category has a brand",
        )
        for name in ("num_price_buckets", "num_age_buckets", "num_regions", "num_activity_levels"):
            need(getattr(self, name) >= 1, f"{name} must be at least 1, got {getattr(self, name)}")
        need(self.latent_dim >= 1, f"latent_dim must be at least 1, got {self.latent_dim}")
        need(
            1 <= self.slate_size <= 20,
            f"slate_size must be between 1 and 20 (items shown together), got {self.slate_size}",
        )
        need(
            self.impressions_per_user >= self.slate_size,
            f"impressions_per_user ({self.impressions_per_user}) must be at least slate_size "
            f"({self.slate_size}): a user sees at least one slate",
        )
        need(self.num_days >= 1, f"num_days must be at least 1, got {self.num_days}")
        need(self.zipf_exponent >= 0, f"zipf_exponent must be >= 0, got {self.zipf_exponent}")
        for name in ("intent_share", "side_feature_share", "taste_drift"):
            v = getattr(self, name)
            need(0 <= v <= 1, f"{name} is a share and must lie in [0, 1], got {v}")
        need(
            self.category_share >= 0
            and self.brand_share >= 0
            and self.category_share + self.brand_share <= 1,
            "category_share and brand_share are shares of the item-factor variance: both must be "
            f">= 0 and sum to at most 1, got {self.category_share} and {self.brand_share}",
        )
        need(
            self.category_stickiness >= 0
            and self.transition_share >= 0
            and self.category_stickiness + self.transition_share <= 1,
            "category_stickiness and transition_share are probabilities of the next intent: both "
            f"must be >= 0 and sum to at most 1, got {self.category_stickiness} and "
            f"{self.transition_share}",
        )
        for name in ("cold_user_fraction", "cold_item_fraction"):
            v = getattr(self, name)
            need(0 <= v < 1, f"{name} must lie in [0, 1) (some entities must be warm), got {v}")
        need(
            0 < self.cold_period < 1,
            f"cold_period is the final share of the time span and must lie in (0, 1), "
            f"got {self.cold_period}",
        )

    @property
    def steps_per_user(self) -> float:
        """Mean number of slates a warm user sees."""
        return self.impressions_per_user / self.slate_size


@dataclass(frozen=True)
class SyntheticTruth:
    """The hidden variables of the simulation: for tests, teaching and oracle baselines only.

    Never feed these to a model. Arrays indexed by id have a zero row 0 (padding); per-impression
    arrays are aligned with the rows of :attr:`SyntheticData.impressions`.
    """

    user_factors: np.ndarray  # (U + 1, D) tastes at the user's first slate
    item_factors: np.ndarray  # (I + 1, D)
    item_bias: np.ndarray  # (I + 1,) popularity part of the click logit
    item_quality: np.ndarray  # (I + 1,) hidden quality, drives conversion
    exposure_weight: np.ndarray  # (I + 1,) Zipf weight of being shown
    price_sensitivity: np.ndarray  # (U + 1,)
    category_centroids: np.ndarray  # (C + 1, D)
    transition: np.ndarray  # (C + 1, C + 1) row c: P(next intent | last category c)
    click_prob: np.ndarray  # (N,) P(click) of each impression
    conversion_prob: np.ndarray  # (N,) P(conversion | click) of each impression
    intent: np.ndarray  # (N,) hidden intent category of the user at each impression


class SyntheticData:
    """The generated tables and the views models train on. Build it with :func:`make_synthetic`.

    Attributes:
        users: ``user_id`` plus side features ``age_bucket``, ``gender``, ``region``,
            ``activity_level`` and the flag ``is_cold``.
        items: ``item_id`` plus ``category``, ``brand``, ``price_bucket``, ``price`` and ``is_cold``.
        impressions: ``user_id``, ``item_id``, ``timestamp``, ``position``, ``click``,
            ``conversion``; sorted by user, then time; timestamps are unique within a user.
        config: the :class:`SyntheticConfig` it was made with.
        seed: the seed it was made with.
        cold_start_time: the first second at which cold users and cold items may appear; a
            temporal split here has no cold entity on the training side.
        truth: the hidden variables (:class:`SyntheticTruth`), never a model input.

    Example:
        >>> data = make_synthetic(SyntheticConfig(num_users=50, num_items=40), seed=1)
        >>> data.users.shape, data.items.shape
        ((50, 6), (40, 6))
        >>> table = data.ctr_table(history_len=5)
        >>> len(table) == len(data.impressions), tuple(table.columns["history_ids"].shape[1:])
        (True, (5,))
        >>> data.sequences(max_len=10).shape
        torch.Size([50, 10])
    """

    USER_FEATURES = ("age_bucket", "gender", "region", "activity_level")
    ITEM_FEATURES = ("category", "brand", "price_bucket")

    def __init__(
        self,
        users: pd.DataFrame,
        items: pd.DataFrame,
        impressions: pd.DataFrame,
        *,
        config: SyntheticConfig,
        seed: int,
        cold_start_time: int,
        truth: SyntheticTruth,
    ) -> None:
        self.users = users
        self.items = items
        self.impressions = impressions
        self.config = config
        self.seed = seed
        self.cold_start_time = cold_start_time
        self.truth = truth

    # -- sizes ---------------------------------------------------------------------------------
    @property
    def num_users(self) -> int:
        """Number of users, cold ones included."""
        return len(self.users)

    @property
    def num_items(self) -> int:
        """Number of items, cold ones included."""
        return len(self.items)

    @property
    def vocab_sizes(self) -> dict[str, int]:
        """``feature name -> vocab_size`` (largest id in the data + 1, since 0 is padding)."""
        sizes = {
            "user_ids": int(self.users["user_id"].max()) + 1,
            "item_ids": int(self.items["item_id"].max()) + 1,
        }
        for name in self.USER_FEATURES:
            sizes[name] = int(self.users[name].max()) + 1
        for name in self.ITEM_FEATURES:
            sizes[name] = int(self.items[name].max()) + 1
        return sizes

    # -- views ---------------------------------------------------------------------------------
    def interactions(self) -> pd.DataFrame:
        """The clicked impressions, ``user_id, item_id, timestamp``, sorted by user then time.

        This is the implicit feedback that retrieval and sequential models train on.
        """
        clicked = self.impressions.loc[self.impressions["click"] == 1]
        return clicked[["user_id", "item_id", "timestamp"]].reset_index(drop=True)

    def before(self, until: int | None = None) -> torch.Tensor:
        """A boolean mask over the rows of :attr:`impressions` (and of :meth:`ctr_table`).

        Args:
            until: a timestamp; rows strictly earlier are ``True``. Default: :attr:`cold_start_time`,
                so ``before()`` is the training side of a temporal split without cold entities.

        Example:
            >>> data = make_synthetic(SyntheticConfig(num_users=30, num_items=30), seed=0)
            >>> train = data.before()
            >>> train.dtype, bool(train.any() and (~train).any())
            (torch.bool, True)
        """
        cut = self.cold_start_time if until is None else until
        return torch.from_numpy(self.impressions["timestamp"].to_numpy() < cut)

    def ctr_schema(self, history_len: int = 0) -> Schema:
        """The schema of :meth:`ctr_table`.

        Sparse ``user_ids``, ``item_ids``, the user features ``age_bucket``, ``gender``, ``region``,
        ``activity_level`` and the item features ``category``, ``brand``, ``price_bucket``; dense
        ``log_price`` (standardised); with ``history_len > 0`` the sequences ``history_ids``
        (shares ``item_ids``) and ``history_categories`` (shares ``category``); labels ``click``
        and ``conversion``.
        """
        if history_len < 0:
            raise ValueError(f"history_len must be >= 0, got {history_len}")
        vocab = self.vocab_sizes
        feats = [Feature("user_ids", "sparse", vocab["user_ids"])]
        feats += [Feature(n, "sparse", vocab[n]) for n in self.USER_FEATURES]
        feats.append(Feature("item_ids", "sparse", vocab["item_ids"]))
        feats += [Feature(n, "sparse", vocab[n]) for n in self.ITEM_FEATURES]
        feats.append(Feature("log_price", "dense"))
        if history_len > 0:
            feats.append(
                Feature(
                    "history_ids",
                    "sequence",
                    vocab["item_ids"],
                    max_len=history_len,
                    shared_with="item_ids",
                )
            )
            feats.append(
                Feature(
                    "history_categories",
                    "sequence",
                    vocab["category"],
                    max_len=history_len,
                    shared_with="category",
                )
            )
        feats += [Feature("click", "label"), Feature("conversion", "label")]
        return Schema(feats)

    def ctr_table(self, *, history_len: int = 0, pad: Pad = "left") -> FeatureTable:
        """Every impression as a row of a :class:`FeatureTable` for CTR and multi-task models.

        Row ``r`` of the table is row ``r`` of :attr:`impressions`, so a split by
        ``impressions["timestamp"]`` selects rows with ``table.subset(mask)``.

        Args:
            history_len: length of ``history_ids`` / ``history_categories``: the user's last
                ``history_len`` clicks strictly before the impression's timestamp (0: no history).
            pad: ``"left"`` puts the most recent click in the last column and padding (0) in
                front; ``"right"`` puts the oldest kept click in column 0 and padding at the end.

        Example:
            >>> data = make_synthetic(SyntheticConfig(num_users=30, num_items=30), seed=0)
            >>> t = data.ctr_table(history_len=4)
            >>> t.schema.names("label"), bool((t.columns["history_ids"][:, 0] == 0).any())
            (['click', 'conversion'], True)
        """
        schema = self.ctr_schema(history_len)
        imp = self.impressions
        uid = imp["user_id"].to_numpy()
        iid = imp["item_id"].to_numpy()
        user_cols = _lookup_columns(self.users, "user_id", self.USER_FEATURES)
        item_cols = _lookup_columns(self.items, "item_id", self.ITEM_FEATURES + ("price",))
        log_price = np.zeros(len(item_cols["price"]))
        log_price[1:] = np.log(item_cols["price"][1:])
        log_price[1:] = (log_price[1:] - log_price[1:].mean()) / (log_price[1:].std() + 1e-12)
        cols: dict[str, np.ndarray] = {"user_ids": uid}
        cols.update({n: user_cols[n][uid] for n in self.USER_FEATURES})
        cols["item_ids"] = iid
        cols.update({n: item_cols[n][iid] for n in self.ITEM_FEATURES})
        cols["log_price"] = log_price[iid].astype(np.float32)
        if history_len > 0:
            click = imp["click"].to_numpy().astype(np.int64)
            clicked_items = iid[click == 1]
            # clicks before row r (rows are sorted by user, then time, with unique timestamps)
            end = np.cumsum(click) - click
            first_row = _group_starts(uid)
            begin = end[first_row][_group_index(uid)]
            hist = _gather_recent(clicked_items, begin, end, history_len, pad)
            cols["history_ids"] = hist
            cols["history_categories"] = item_cols["category"][hist]  # padding 0 stays 0
        cols["click"] = imp["click"].to_numpy().astype(np.float32)
        cols["conversion"] = imp["conversion"].to_numpy().astype(np.float32)
        # pandas hands out read-only views; the table must own writable memory
        tensors = {
            k: torch.from_numpy(v if v.flags.writeable else v.copy()) for k, v in cols.items()
        }
        return FeatureTable(tensors, schema)

    def sequences(
        self, max_len: int, *, until: int | None = None, pad: Pad = "left"
    ) -> torch.Tensor:
        """Each user's last ``max_len`` clicked items in time order, padded with 0.

        Args:
            max_len: columns of the result; longer histories keep their most recent clicks.
            until: keep only clicks with ``timestamp < until`` (e.g. a temporal split point).
            pad: ``"left"`` (default): the most recent click is in the last column, padding in
                front; ``"right"``: the oldest kept click is in column 0, padding at the end.

        Returns:
            An int64 tensor of shape ``(U, max_len)``; row ``u - 1`` belongs to user id ``u``.

        Example:
            >>> data = make_synthetic(SyntheticConfig(num_users=20, num_items=30), seed=0)
            >>> seq = data.sequences(8)
            >>> seq.shape, bool((seq[:, -1] > 0).all())
            (torch.Size([20, 8]), True)
        """
        if max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {max_len}")
        inter = self.interactions()
        if until is not None:
            inter = inter.loc[inter["timestamp"] < until]
        uid = inter["user_id"].to_numpy()
        counts = np.bincount(uid, minlength=self.num_users + 1)[1:]
        end = np.cumsum(counts)
        seq = _gather_recent(inter["item_id"].to_numpy(), end - counts, end, max_len, pad)
        return torch.from_numpy(seq)

    # -- printing ------------------------------------------------------------------------------
    def summary(self) -> str:
        """A few lines with the sizes, label rates and the time span."""
        imp = self.impressions
        clicks = int(imp["click"].sum())
        conversions = int(imp["conversion"].sum())
        days = (int(imp["timestamp"].max()) - int(imp["timestamp"].min())) / 86_400
        cold_day = (self.cold_start_time - EPOCH) / 86_400
        lines = [
            f"synthetic data (seed {self.seed})",
            f"  users        {self.num_users:>10,}  ({int(self.users['is_cold'].sum()):,} cold)",
            f"  items        {self.num_items:>10,}  ({int(self.items['is_cold'].sum()):,} cold)",
            f"  impressions  {len(imp):>10,}",
            f"  clicks       {clicks:>10,}  (CTR {clicks / max(len(imp), 1):.3f}, "
            f"{clicks / self.num_users:.1f} per user)",
            f"  conversions  {conversions:>10,}  (CVR after click {conversions / max(clicks, 1):.3f})",
            f"  time span    {days:>10.1f} days; cold users and items from day {cold_day:.1f}",
        ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"SyntheticData(users={self.num_users}, items={self.num_items}, "
            f"impressions={len(self.impressions)}, clicks={int(self.impressions['click'].sum())}, "
            f"seed={self.seed})"
        )


def make_synthetic(config: SyntheticConfig | None = None, *, seed: int = 0) -> SyntheticData:
    """Simulate the synthetic dataset; the same ``(config, seed)`` gives bit-identical tables.

    Args:
        config: sizes and signal strengths (default :class:`SyntheticConfig`).
        seed: seed of the numpy generator that draws everything.

    Returns:
        A :class:`SyntheticData`.

    Example:
        >>> a = make_synthetic(SyntheticConfig(num_users=40, num_items=30), seed=3)
        >>> b = make_synthetic(SyntheticConfig(num_users=40, num_items=30), seed=3)
        >>> a.impressions.equals(b.impressions)
        True
        >>> bool((a.impressions["conversion"] <= a.impressions["click"]).all())
        True
    """
    cfg = SyntheticConfig() if config is None else config
    if not isinstance(cfg, SyntheticConfig):
        raise TypeError(f"config must be a SyntheticConfig, got {type(cfg).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng(int(seed))
    span = cfg.num_days * 86_400
    cold_start_time = EPOCH + int(round((1 - cfg.cold_period) * span))
    items = _make_items(cfg, rng)
    users = _make_users(cfg, rng, items)
    sim = _simulate(cfg, rng, users, items, cold_start_time)
    return _assemble(cfg, int(seed), users, items, sim, cold_start_time)


# -- generation -----------------------------------------------------------------------------------
# Internally users and items are 0-based indices; the tables add 1.


def _make_items(cfg: SyntheticConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Categories, brands, factors (Eq. 3), prices (Eq. 4) and popularity (Eq. 5) of the items."""
    n, c, d = cfg.num_items, cfg.num_categories, cfg.latent_dim
    centroids = rng.standard_normal((c, d))
    # every category gets at least one item and one brand
    category = rng.permutation(np.concatenate([np.arange(c), rng.integers(c, size=n - c)]))
    brand_cat = np.concatenate([np.arange(c), rng.integers(c, size=cfg.num_brands - c)])
    brand_vec = rng.standard_normal((cfg.num_brands, d))
    brand_price = rng.standard_normal(cfg.num_brands)
    cat_price = rng.standard_normal(c)
    # an item's brand: uniform among the brands of its category
    by_cat = np.argsort(brand_cat, kind="stable")
    per_cat = np.bincount(brand_cat, minlength=c)
    first = np.cumsum(per_cat) - per_cat
    brand = by_cat[first[category] + (rng.random(n) * per_cat[category]).astype(np.int64)]
    rest = 1.0 - cfg.category_share - cfg.brand_share
    factors = (  # Eq. (3)
        np.sqrt(cfg.category_share) * centroids[category]
        + np.sqrt(cfg.brand_share) * brand_vec[brand]
        + np.sqrt(rest) * rng.standard_normal((n, d))
    )
    log_price = (  # Eq. (4)
        3.5 + 0.5 * brand_price[brand] + 0.4 * cat_price[category] + 0.3 * rng.standard_normal(n)
    )
    price = np.round(np.exp(log_price), 2)
    price_z = (log_price - log_price.mean()) / (log_price.std() + 1e-12)
    rank = rng.permutation(n) + 1  # popularity rank, unrelated to taste
    exposure = rank.astype(np.float64) ** (-cfg.zipf_exponent)  # Eq. (5)
    log_exposure = np.log(exposure)
    bias = (
        cfg.popularity_weight * (log_exposure - log_exposure.mean()) / (log_exposure.std() + 1e-12)
    )
    cold = np.zeros(n, dtype=bool)
    cold[rng.permutation(n)[: min(int(round(cfg.cold_item_fraction * n)), n - 1)]] = True
    return {
        "category": category,
        "brand": brand,
        "factors": factors,
        "centroids": centroids,
        "price": price,
        "price_z": price_z,
        "price_bucket": _quantile_bucket(log_price, cfg.num_price_buckets),
        "exposure": exposure,
        "bias": bias,
        "quality": rng.standard_normal(n),
        "cold": cold,
    }


def _make_users(
    cfg: SyntheticConfig, rng: np.random.Generator, items: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Side features, tastes (Eq. 1), price sensitivity (Eq. 2) and activity of the users."""
    n, d = cfg.num_users, cfg.latent_dim
    age_p = np.exp(
        -0.5 * ((np.arange(cfg.num_age_buckets) - 0.35 * cfg.num_age_buckets) / 2.0) ** 2
    )
    age = rng.choice(cfg.num_age_buckets, size=n, p=age_p / age_p.sum())
    gender = rng.integers(2, size=n)
    region_p = (np.arange(cfg.num_regions) + 1.0) ** -0.7
    region = rng.choice(cfg.num_regions, size=n, p=region_p / region_p.sum())
    age_vec = rng.standard_normal((cfg.num_age_buckets, d))
    gender_vec = rng.standard_normal((2, d))
    region_vec = rng.standard_normal((cfg.num_regions, d))
    group = (age_vec[age] + gender_vec[gender] + region_vec[region]) / np.sqrt(3.0)
    taste = (  # Eq. (1)
        np.sqrt(cfg.side_feature_share) * group
        + np.sqrt(1.0 - cfg.side_feature_share) * rng.standard_normal((n, d))
    )
    age_sens = np.linspace(0.8, -0.4, cfg.num_age_buckets)  # the young mind the price most
    region_sens = 0.4 * rng.standard_normal(cfg.num_regions)
    # Eq. (2)
    sensitivity = 0.5 + age_sens[age] + region_sens[region] + 0.3 * rng.standard_normal(n)
    # activity multiplier with mean about 1, capped at 4x
    activity = np.clip(np.exp(0.6 * rng.standard_normal(n) - 0.18), 0.25, 4.0)
    cold = np.zeros(n, dtype=bool)
    cold[rng.permutation(n)[: min(int(round(cfg.cold_user_fraction * n)), n - 1)]] = True
    steps = np.maximum(1, np.round(cfg.steps_per_user * activity)).astype(np.int64)
    # a cold user arrives late: only the cold period's share of the activity
    steps[cold] = np.maximum(1, np.round(steps[cold] * cfg.cold_period)).astype(np.int64)
    return {
        "age": age,
        "gender": gender,
        "region": region,
        "activity_level": _quantile_bucket(activity, cfg.num_activity_levels),
        "taste": taste,
        "sensitivity": sensitivity,
        "steps": steps,
        "cold": cold,
    }


class _Exposure:
    """Draws shown items: from one category or from all, proportional to the Zipf weights (Eq. 6).

    Before the cold-start time cold items have weight 0. Sampling inverts the cumulative weights of
    the items sorted by category, so one ``searchsorted`` serves every row at once.
    """

    def __init__(self, items: dict[str, np.ndarray], num_categories: int) -> None:
        self.order = np.argsort(items["category"], kind="stable")
        sorted_cat = items["category"][self.order]
        self.tables = []
        for weight in (items["exposure"] * ~items["cold"], items["exposure"]):  # before, after
            cum = np.cumsum(weight[self.order])
            mass = np.bincount(sorted_cat, weights=weight[self.order], minlength=num_categories)
            self.tables.append((cum, np.cumsum(mass) - mass, mass))

    def draw(
        self, rng: np.random.Generator, category: np.ndarray | None, after: np.ndarray
    ) -> np.ndarray:
        """Item indices, one per entry of the 1-D ``after`` (True: cold items may be shown).

        ``category`` (same shape) restricts each draw to one category; ``None`` draws from all.
        """
        u = rng.random(after.shape)
        out = np.empty(after.shape, dtype=np.int64)
        for phase, (cum, lo, mass) in enumerate(self.tables):
            rows = after == bool(phase)
            if category is None:
                r = u[rows] * cum[-1]
            else:
                cat = category[rows]
                # a category with no available item falls back to all items
                has = mass[cat] > 0
                r = np.where(has, lo[cat] + u[rows] * mass[cat], u[rows] * cum[-1])
            idx = np.minimum(np.searchsorted(cum, r, side="right"), len(cum) - 1)
            out[rows] = self.order[idx]
        return out


def _simulate(
    cfg: SyntheticConfig,
    rng: np.random.Generator,
    users: dict[str, np.ndarray],
    items: dict[str, np.ndarray],
    cold_start_time: int,
) -> dict[str, np.ndarray]:
    """Step every user through their slates at once; the Python loop runs over steps, not rows."""
    n_users, s, d = cfg.num_users, cfg.slate_size, cfg.latent_dim
    span = cfg.num_days * 86_400
    exposure = _Exposure(items, cfg.num_categories)
    cat_of = items["category"]
    transition = _transition_matrix(cfg, rng)
    centroids = items["centroids"]

    # start times: warm users during the first half of the warm period, cold ones during the first
    # half of the cold period; each user's slates are spread until the end of the span (Eq. 12)
    end = EPOCH + span
    start = np.where(
        users["cold"],
        cold_start_time + rng.random(n_users) * 0.5 * (end - cold_start_time),
        EPOCH + rng.random(n_users) * 0.5 * (cold_start_time - EPOCH),
    )
    steps = users["steps"]
    n_steps = int(steps.max())
    # exponential gaps, normalised so that the last slate ends before the end of the span; a
    # minimum gap keeps the slates of one user apart and every timestamp unique
    min_gap = s * _POSITION_GAP_S + 1
    gaps = rng.exponential(1.0, (n_users, n_steps + 1))
    gaps[np.arange(n_steps + 1) > steps[:, None]] = 0.0
    cum = np.cumsum(gaps, axis=1)
    frac = (cum - gaps)[:, :n_steps] / cum[:, -1:]  # (U, T), 0 at the first slate
    slack = np.maximum(end - start - min_gap * steps, 0.0)
    times = start[:, None] + min_gap * np.arange(n_steps) + frac * slack[:, None]
    times = np.floor(times).astype(np.int64)  # (U, T)
    del gaps, cum, frac

    taste = users["taste"].copy()
    norm0 = np.linalg.norm(taste, axis=1, keepdims=True)
    intent = _sample_rows(rng, _category_preference(taste, centroids))
    position_bias = -cfg.position_weight * np.log1p(np.arange(s))
    scale = 1.0 / np.sqrt(d)

    out: dict[str, list[np.ndarray]] = {
        k: [] for k in ("user", "item", "time", "pos", "click", "conv", "p", "q", "intent")
    }
    for t in range(n_steps):
        act = np.flatnonzero(steps > t)  # (A,)
        n_act = len(act)
        now = times[act, t]  # (A,)
        after = now >= cold_start_time  # (A,) cold items may be shown
        after_s = np.repeat(after[:, None], s, axis=1)  # (A, S)
        cur = intent[act]
        from_intent = rng.random((n_act, s)) < cfg.intent_share  # Eq. (6)
        slate = np.empty((n_act, s), dtype=np.int64)
        cur_s = np.repeat(cur[:, None], s, axis=1)
        slate[from_intent] = exposure.draw(rng, cur_s[from_intent], after_s[from_intent])
        slate[~from_intent] = exposure.draw(rng, None, after_s[~from_intent])
        for k in range(1, s):  # one pass against repeats inside a slate
            dup = (slate[:, k : k + 1] == slate[:, :k]).any(axis=1)
            slate[dup, k] = exposure.draw(rng, None, after[dup])

        affinity = np.einsum("ad,asd->as", taste[act], items["factors"][slate]) * scale  # Eq. (7)
        logit = (  # Eq. (8)
            cfg.click_bias
            + cfg.affinity_weight * affinity
            + items["bias"][slate]
            + cfg.intent_weight * (cat_of[slate] == cur[:, None])
            + position_bias
        )
        p = _sigmoid(logit)
        click = rng.random((n_act, s)) < p
        q = _sigmoid(  # Eq. (9)
            cfg.conversion_bias
            + cfg.conversion_affinity_weight * affinity
            - cfg.price_weight * users["sensitivity"][act, None] * items["price_z"][slate]
            + cfg.quality_weight * items["quality"][slate]
        )
        conv = click & (rng.random((n_act, s)) < q)

        # narrow dtypes: at 50k users these lists hold millions of rows
        for key, value in (
            ("user", np.repeat(act[:, None].astype(np.int32), s, axis=1)),
            ("item", slate.astype(np.int32)),
            ("time", now[:, None] + _POSITION_GAP_S * np.arange(s)),
            ("pos", np.broadcast_to(np.arange(s, dtype=np.int8), (n_act, s))),
            ("click", click),
            ("conv", conv),
            ("p", p.astype(np.float32)),
            ("q", q.astype(np.float32)),
            ("intent", np.repeat(cur[:, None].astype(np.int32), s, axis=1)),
        ):
            out[key].append(value.reshape(-1))

        # the last click of the slate (highest position) moves the state on
        clicked = click.any(axis=1)
        last = slate[np.arange(n_act), s - 1 - np.argmax(click[:, ::-1], axis=1)]
        last_cat = np.where(clicked, cat_of[last], cur)
        pull = np.where(clicked, cfg.taste_drift, 0.0)[:, None]  # Eq. (10)
        moved = (1 - pull) * taste[act] + pull * items["factors"][last]
        moved += _DRIFT_NOISE * rng.standard_normal((n_act, d))
        taste[act] = moved * norm0[act] / (np.linalg.norm(moved, axis=1, keepdims=True) + 1e-12)

        u = rng.random(n_act)  # Eq. (11)
        stick = cfg.category_stickiness
        by_transition = (u >= stick) & (u < stick + cfg.transition_share)
        by_taste = u >= stick + cfg.transition_share
        nxt = last_cat.copy()
        nxt[by_transition] = _sample_rows(rng, transition[last_cat[by_transition]])
        nxt[by_taste] = _sample_rows(rng, _category_preference(taste[act[by_taste]], centroids))
        intent[act] = nxt

    sim = {k: np.concatenate(v) for k, v in out.items()}
    sim["transition"] = transition
    sim["start_taste"] = users["taste"]
    return sim


def _transition_matrix(cfg: SyntheticConfig, rng: np.random.Generator) -> np.ndarray:
    """A sparse-ish Markov matrix between categories, with no self loops (stickiness covers those)."""
    c = cfg.num_categories
    m = rng.dirichlet(np.full(c, 0.2), size=c)
    np.fill_diagonal(m, 0.0)
    m += 1e-9  # a row whose mass sat on the diagonal becomes uniform
    np.fill_diagonal(m, 0.0)
    return m / m.sum(axis=1, keepdims=True)


def _category_preference(taste: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Softmax over categories of the taste-centroid affinity: the user's own pull (Eq. 11)."""
    z = _PREFERENCE_TEMPERATURE * taste @ centroids.T / np.sqrt(taste.shape[1])
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _sample_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of a ``(A, C)`` probability matrix."""
    u = rng.random((probs.shape[0], 1))
    return np.minimum((np.cumsum(probs, axis=1) < u).sum(axis=1), probs.shape[1] - 1)


def _assemble(
    cfg: SyntheticConfig,
    seed: int,
    users: dict[str, np.ndarray],
    items: dict[str, np.ndarray],
    sim: dict[str, np.ndarray],
    cold_start_time: int,
) -> SyntheticData:
    # within one step rows go by user, then position, and steps go forward in time: a stable sort
    # by user alone gives (user, time) order
    order = np.argsort(sim["user"], kind="stable")
    impressions = pd.DataFrame(
        {
            "user_id": sim["user"][order].astype(np.int64) + 1,
            "item_id": sim["item"][order].astype(np.int64) + 1,
            "timestamp": sim["time"][order],
            "position": (sim["pos"][order] + 1).astype(np.int8),
            "click": sim["click"][order].astype(np.int8),
            "conversion": sim["conv"][order].astype(np.int8),
        }
    )
    user_table = pd.DataFrame(
        {
            "user_id": np.arange(1, cfg.num_users + 1),
            "age_bucket": users["age"] + 1,
            "gender": users["gender"] + 1,
            "region": users["region"] + 1,
            "activity_level": users["activity_level"] + 1,
            "is_cold": users["cold"],
        }
    )
    item_table = pd.DataFrame(
        {
            "item_id": np.arange(1, cfg.num_items + 1),
            "category": items["category"] + 1,
            "brand": items["brand"] + 1,
            "price_bucket": items["price_bucket"] + 1,
            "price": items["price"],
            "is_cold": items["cold"],
        }
    )
    truth = SyntheticTruth(
        user_factors=_pad_row(sim["start_taste"]),
        item_factors=_pad_row(items["factors"]),
        item_bias=_pad_row(items["bias"]),
        item_quality=_pad_row(items["quality"]),
        exposure_weight=_pad_row(items["exposure"]),
        price_sensitivity=_pad_row(users["sensitivity"]),
        category_centroids=_pad_row(items["centroids"]),
        transition=_pad_row(_pad_row(sim["transition"]).T).T,
        click_prob=sim["p"][order],
        conversion_prob=sim["q"][order],
        intent=sim["intent"][order] + 1,
    )
    return SyntheticData(
        user_table,
        item_table,
        impressions,
        config=cfg,
        seed=seed,
        cold_start_time=cold_start_time,
        truth=truth,
    )


# -- small helpers --------------------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _pad_row(x: np.ndarray) -> np.ndarray:
    """Prepend a zero row so that row ``id`` belongs to the 1-based ``id``."""
    return np.concatenate([np.zeros((1,) + x.shape[1:], dtype=x.dtype), x])


def _quantile_bucket(x: np.ndarray, buckets: int) -> np.ndarray:
    """0-based equal-frequency buckets of ``x``."""
    ranks = np.argsort(np.argsort(x, kind="stable"), kind="stable")
    return (ranks * buckets // len(x)).astype(np.int64)


def _lookup_columns(frame: pd.DataFrame, key: str, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """``name -> array`` indexed by id (row 0 is padding: 0)."""
    ids = frame[key].to_numpy()
    out = {}
    for name in names:
        values = frame[name].to_numpy()
        col = np.zeros(int(ids.max()) + 1, dtype=values.dtype)
        col[ids] = values
        out[name] = col
    return out


def _group_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Row where each run of equal keys starts (keys sorted)."""
    if len(sorted_keys) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])


def _group_index(sorted_keys: np.ndarray) -> np.ndarray:
    """For each row, the index of its run of equal keys (keys sorted)."""
    if len(sorted_keys) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.cumsum(np.r_[False, sorted_keys[1:] != sorted_keys[:-1]])


def _gather_recent(
    values: np.ndarray, begin: np.ndarray, end: np.ndarray, length: int, pad: Pad
) -> np.ndarray:
    """Row ``r``: the last ``length`` entries of ``values[begin[r]:end[r]]``, padded with 0."""
    if pad not in ("left", "right"):
        raise ValueError(f"pad must be 'left' or 'right', got {pad!r}")
    kept = np.minimum(end - begin, length)  # (R,)
    padded = np.concatenate([np.zeros(1, dtype=np.int64), values.astype(np.int64, copy=False)])
    # in place, because R * L can be hundreds of millions; +1 skips the leading 0, which every
    # padding slot reads instead
    if pad == "left":
        idx = end[:, None] + np.arange(1 - length, 1)  # (R, L)
        idx *= np.arange(length) >= (length - kept)[:, None]
    else:
        idx = (end - kept + 1)[:, None] + np.arange(length)
        idx *= np.arange(length) < kept[:, None]
    return padded.take(idx)


def tiny_ctr_batch() -> tuple[Schema, dict[str, torch.Tensor]]:
    """Six rows for doctests and the contract test: two sparse fields, a padded history, a 2-wide
    dense field and a label. Row 5 has no history; every history is left-padded.

    Example:
        >>> schema, batch = tiny_ctr_batch()
        >>> schema.names(), tuple(batch["history_ids"].shape)
        (['user_ids', 'item_ids', 'history_ids', 'context', 'label'], (6, 4))
    """
    schema = Schema(
        [
            Feature("user_ids", "sparse", vocab_size=7),
            Feature("item_ids", "sparse", vocab_size=9),
            Feature("history_ids", "sequence", vocab_size=9, max_len=4, shared_with="item_ids"),
            Feature("context", "dense", dim=2),
            Feature("label", "label"),
        ]
    )
    gen = torch.Generator().manual_seed(0)
    history = torch.randint(1, 9, (6, 4), generator=gen)
    history[:, :1] = 0  # left padding, as the data tables write it
    history[5] = 0  # a row with no history at all
    batch = {
        "user_ids": torch.randint(1, 7, (6,), generator=gen),
        "item_ids": torch.randint(1, 9, (6,), generator=gen),
        "history_ids": history,
        "context": torch.randn(6, 2, generator=gen),
        "label": torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0, 1.0]),
    }
    return schema, batch
