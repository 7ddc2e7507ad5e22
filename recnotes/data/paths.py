"""Where the real datasets live, what each file must hash to, and how a missing file is obtained.

recnotes never ships data. Every real dataset is read from the **data directory**:

* ``$RECNOTES_DATA`` when that environment variable is set (a folder laid out like
  ``<data>/ml-1m/users.dat.gz``, ``<data>/frappe/nfm/...``);
* otherwise a per-user cache folder, ``$XDG_CACHE_HOME/recnotes`` or ``~/.cache/recnotes``.

`REGISTRY` lists every known file of every dataset with the sha256 of the stored bytes and, for
``.gz`` files, the sha256 of the decompressed content. `fetch` returns the path of a file after
checking it:

1. The file is present: its hash is checked (the stored bytes first, then the decompressed content,
   so a file you gzipped yourself is accepted too). A mismatch raises `DataChecksumError`
   naming the file and both hashes. A successful check is remembered by ``(size, mtime)`` in a small
   JSON stamp in the cache folder, so a file is hashed once, not on every load.
2. The file is missing and an official download exists (GroupLens ``ml-1m.zip`` and
   ``ml-100k.zip``; the NCF authors' test files): the archive is downloaded with a progress bar into a
   temporary file next to the target, the needed members are extracted (and, where the official
   file is a superset of the stored one, cut down to it), each result is verified against the
   registered content hash and only then moved into place with `os.replace`. An interrupted or
   corrupt download never leaves a file at the target.
3. Otherwise (no official download, the network is down, or ``RECNOTES_OFFLINE=1``):
   `DataNotFoundError` says which file to put at which full path and where to get it.

Example:
    >>> from recnotes.data.paths import REGISTRY, file_info
    >>> sorted(REGISTRY)[:3]
    ['ali-ccp-sample', 'amazon-beauty', 'amazon-electronics-sample']
    >>> file_info("ml-1m", "users.dat.gz").sha256[:12]
    '86d4292505a4'
    >>> file_info("ml-10m", "ratings.dat")
    Traceback (most recent call last):
    ...
    recnotes.data.paths.UnknownDatasetError: unknown dataset 'ml-10m'; known datasets: ali-ccp-sample, amazon-beauty, amazon-electronics-sample, amazon-sports, amazon-toys, census-income, criteo-sample, frappe, ml-100k, ml-1m
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tqdm.auto import tqdm

__all__ = [
    "ENV_DATA",
    "ENV_OFFLINE",
    "REGISTRY",
    "DataError",
    "DataNotFoundError",
    "DataChecksumError",
    "UnknownDatasetError",
    "DataFile",
    "Download",
    "DatasetFiles",
    "cache_dir",
    "data_dir",
    "dataset_dir",
    "file_info",
    "fetch",
    "verify_dataset",
    "sha256_file",
]

#: Environment variable that points at the data directory.
ENV_DATA = "RECNOTES_DATA"
#: Set to ``1`` to never try a download (a missing file then fails at once).
ENV_OFFLINE = "RECNOTES_OFFLINE"

_STAMP_NAME = "verified.json"
_CHUNK = 1 << 20
_TIMEOUT_S = 60


# -- errors --------------------------------------------------------------------------------------
class DataError(Exception):
    """Base class of every real-data problem (missing file, bad checksum, unknown name, bad file)."""


class DataNotFoundError(DataError, FileNotFoundError):
    """A data file is missing and could not be downloaded; the message says where to put what."""


class DataChecksumError(DataError, ValueError):
    """A data file's sha256 differs from the registered one; the message names both hashes."""


class UnknownDatasetError(DataError, ValueError):
    """A dataset (or a file of a dataset) that recnotes does not know; the message lists the names."""


# -- the registry --------------------------------------------------------------------------------
@dataclass(frozen=True)
class DataFile:
    """One registered file.

    Args:
        relpath: path inside the dataset folder (``"ncf/ml-1m.test.rating.gz"``).
        sha256: sha256 of the stored bytes (``SHA256SUMS`` of the shared data folder).
        content_sha256: for ``.gz`` files, sha256 of the decompressed bytes; a file whose gzip
            bytes differ (compressed by another tool) but whose content matches is accepted.
    """

    relpath: str
    sha256: str
    content_sha256: str | None = None


@dataclass(frozen=True)
class Download:
    """An official source that produces some files of a dataset.

    Args:
        url: the archive (``kind="zip"``) or the single file (``kind="file"``).
        produces: ``relpath -> (member, transform)``: the archive member each registered file comes
            from (ignored for ``kind="file"``) and the name of a transform in ``_TRANSFORMS``
            (``"identity"`` keeps the bytes). Outputs ending in ``.gz`` are gzip-compressed.
        kind: ``"zip"`` or ``"file"``.
    """

    url: str
    produces: Mapping[str, tuple[str, str]]
    kind: str = "zip"


@dataclass(frozen=True)
class DatasetFiles:
    """Everything recnotes knows about where one dataset's files come from."""

    name: str
    title: str
    licence: str
    homepage: str
    files: Mapping[str, DataFile]
    how_to_get: str
    downloads: tuple[Download, ...] = ()
    notes: str = ""

    def download_for(self, relpath: str) -> Download | None:
        """The download that produces ``relpath``, if any."""
        for d in self.downloads:
            if relpath in d.produces:
                return d
        return None


def _files(table: str) -> dict[str, DataFile]:
    """Parse ``sha256 content_sha256|- relpath`` lines (the format of SHA256SUMS plus a column)."""
    out: dict[str, DataFile] = {}
    for line in table.strip().splitlines():
        sha, content, rel = line.split()
        out[rel] = DataFile(rel, sha, None if content == "-" else content)
    return out


_GROUPLENS = "https://files.grouplens.org/datasets/movielens"
_NCF_RAW = (
    "https://raw.githubusercontent.com/hexiangnan/neural_collaborative_filtering/"
    "4aab159e81c44b062c091bdaed0ab54ac632371f/Data"
)
_ML100K_MEMBERS = ["u.data", "u.item", "u.user"] + [
    f"{fold}.{part}"
    for fold in ("u1", "u2", "u3", "u4", "u5", "ua", "ub")
    for part in ("base", "test")
]

#: Every dataset recnotes knows, by name. Hashes are those of the shared data folder.
REGISTRY: dict[str, DatasetFiles] = {
    d.name: d
    for d in [
        DatasetFiles(
            name="ml-1m",
            title="MovieLens-1M (GroupLens, 2003)",
            licence="GroupLens terms: research use, no redistribution, cite Harper & Konstan 2015",
            homepage="https://grouplens.org/datasets/movielens/1m/",
            files=_files(
                """
2d5ddce86ccbd247207456165827b4b9ddf27282bca93807d4c763e28414f133 - README.grouplens.txt
3cad966a403e9e3521032b4c7344a6668c38189c66da4deab18fa5cc988608fd 0140fc2356357c1a851d0f52e893a1e4d3696df632c4141cea8d5bc3d621f0b9 movies.dat.gz
86d4292505a46372a27dc3772a27ddcf84db5453d5b19976a9365b32ab5c0e60 1dc3a95300cb19f7c10e027daf29b8cdf1d908dab65b5edfb45950aa389a10a3 users.dat.gz
0b42fb8501fc37cddf414985f35a59ac7d4ecc121b86f629d7e0514062ec6bb0 2dad134c8b493373beed8d2a42e18ec2a93606fd957bd76c0bfbdef5c514b985 ratings_no_timestamp.dat.gz
2fedcf5405373a49df4041e3d3fe1e8db9eacf2c77c209ae1f686ea06b7a16d9 1273c4edfe3c0ff9e3a0a0d55819faeb947da0ad7df3927333b51ebefbeedc3d ratings_users0001-2999.dat.gz
b354c7081dd0a6ca6b2711d6ae48d057ade864332ae90e28856372997d88994f - sources/aura_ratings_user_movie.parquet
7ed04bd1ec52dc3180089c7c8af6bd62ba2e98ecb0f6ab4d9462b937fd221608 - sources/movielens_1m.mat
64a4a97e70c3be1f71cc383f01e37d1ef6e1afca0f7a74acc505f8d33fb9cf22 127853228a76b7d21c0481e8ef8d00dd009cd5c88670dbdd9e9debfdb9f93de4 ncf/ml-1m.test.negative.gz
b1c79b74e632123e78fce4a770d2c4060ff9854f206870c9358187a15a7e66da 231ae11eb060b643a8c58c063cd17ffc743b54f569afb073d1abb6cf126b88b5 ncf/ml-1m.test.rating.gz
"""
            ),
            how_to_get=(
                "the official GroupLens archive ml-1m.zip (https://grouplens.org/datasets/movielens/1m/), "
                "from whose movies.dat, users.dat and ratings.dat recnotes derives the stored files; "
                "the NCF test files are Data/ml-1m.test.rating and Data/ml-1m.test.negative of "
                "https://github.com/hexiangnan/neural_collaborative_filtering (gzip them)"
            ),
            downloads=(
                Download(
                    f"{_GROUPLENS}/ml-1m.zip",
                    {
                        "movies.dat.gz": ("ml-1m/movies.dat", "identity"),
                        "users.dat.gz": ("ml-1m/users.dat", "identity"),
                        "ratings_no_timestamp.dat.gz": (
                            "ml-1m/ratings.dat",
                            "ml1m_strip_timestamps",
                        ),
                        "ratings_users0001-2999.dat.gz": (
                            "ml-1m/ratings.dat",
                            "ml1m_users_below_3000",
                        ),
                    },
                ),
                Download(
                    f"{_NCF_RAW}/ml-1m.test.rating",
                    {"ncf/ml-1m.test.rating.gz": ("", "identity")},
                    kind="file",
                ),
                Download(
                    f"{_NCF_RAW}/ml-1m.test.negative",
                    {"ncf/ml-1m.test.negative.gz": ("", "identity")},
                    kind="file",
                ),
            ),
            notes=(
                "Timestamps exist only for users 1-2999 (ratings_users0001-2999.dat.gz); the official "
                "ratings.dat has them all, but recnotes keeps exactly the stored files so that a "
                "result does not depend on where the data came from."
            ),
        ),
        DatasetFiles(
            name="ml-100k",
            title="MovieLens-100K (GroupLens, 1998)",
            licence="GroupLens terms: research use, no redistribution, cite Harper & Konstan 2015",
            homepage="https://grouplens.org/datasets/movielens/100k/",
            files=_files(
                """
4883b8cf340ed0059971b33f56ad3adc88a40792108ebca3d24aafc4c82e8b52 - README.grouplens.txt
9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb - u.genre
5b0a40b2e47a729ee6203063f6dcf8790c2e63f5a18663e6ee318a72c5f3c27b - u.info
cd5fbec9afe345d993a62fc7817df1a4a9079c4feb267b3118763b8fd942137d - u.occupation
d5cd19fba4562fe2867bf2964d99d97ec55bce45b150df3763dfa8668cf22f4f 06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490 u.data.gz
04adc2d93c4b38f562630ccc81b658ef590e3e3573cb189b1d8167fae0217f93 553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701 u.item.gz
10e0ddab8671ce7f418c092148f3d3e83f57813d63f1874fea439c8ed3d176b2 f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c u.user.gz
85bfd60412e52b60b9a7f494b13f892a627eedf8c870716879aa0eadc7709e33 ce253ec86c448b44fb3ba9a30d12dcfc2e9210cbde71efada3730c22e9ac212a u1.base.gz
e24ea37f1150f16f8991cb55ae018695991cfeab9df93d5d14e4ce08825e37ad 18c6014a4b2c7324f250a63f8904a7b16b2b19f911129e346141507b0cbac950 u1.test.gz
bca72de4836faf26dc14e456e18abeb30071744ff46fea82ddaf7e546b6928c2 6c06f0b5df4b256da1a994f3ac66edc8da4d3f09bc9282df6b14d893366d703e u2.base.gz
e65f4e005023e6cb59ffd192e027b7d93c6f43339c69122c50521ed106d9883c 4de658d1e04ed9104629509a2e2528fce833ac8e048280183f1df167632038c3 u2.test.gz
93900c1760b514da98dbf39df08b691416acde2d85419693850faf340114d17d afdc155c291c6edc41c0407e39d7462eb98d341e064f0b0a12175b80b3c4af5d u3.base.gz
05eab9e3e2fd9ee2346627ed493055bb49ed94febaa849db614abb9940f8eefa 0f548b51c78327de4c156461d3e430b7e5579fe2b5681586a59416e48fd35f6d u3.test.gz
c40781fc0f2fa7805262fc4e50fda8f532058b7383446c5ba8279b6be78b644d 219f0f4d40dfe9c5141d425f53fa91ee23ed275f14e280bbf1b50117afb064ca u4.base.gz
289f2a844b6560351b225d162ab5b6421320de6f5b6ea1573dfd3068a3b8f089 7c02ad0a1e7ab1083c8b9d4b627203a051dd7b5eab46d99fa44de33470de8db9 u4.test.gz
0d6a9fe308465814bc8c66ab8a84971e3a2d5d92090b0c5c430cd2611ed0f904 a9574e59ce961eec2121627760b6e9b0974ce1637b3fe69ac32cb14a4bfab485 u5.base.gz
a76fce16da45f75760f3219e87380ac09849c0ec1be13f76662f88f2c579d26a 351cc52e0d15b6c721466276fc24671d40936899e3d01fadeaf312915b8c5634 u5.test.gz
bba295f8d3655295a42d4749689d06d40cbb9635dbd6c169fef6fa0f3a7bafe1 67b5bcdb380c29f85d56a012ecd88612ae020f30a6730d117a334ee8203b91f2 ua.base.gz
6ceff4352c63093cd9354cbd4e52e1b0f0fee25b2b2b55d95d0af0c138f8a557 d0497e202417720f57a184ec8c66be2d1afa4ff41bb53787c57b28d6bf79bc42 ua.test.gz
66ae16480a6cbeb819b1a7761083daab1e25aeb63eddb385ede6d16b138d0cb0 237254d253b6ad7de84f919d041055428646254f34ed8f562703c899430cd881 ub.base.gz
fc227433dd5d679d15f17f9a5eb21d4d33e3f890986d7b1380b8906e36f5aef2 d54a72d05730d5892062734b2bec73e976f9b713d18c828a18b968d6cce442da ub.test.gz
"""
            ),
            how_to_get=(
                "the official GroupLens archive ml-100k.zip "
                "(https://grouplens.org/datasets/movielens/100k/); its member of the same name, "
                "gzipped or not"
            ),
            downloads=(
                Download(
                    f"{_GROUPLENS}/ml-100k.zip",
                    {f"{m}.gz": (f"ml-100k/{m}", "identity") for m in _ML100K_MEMBERS}
                    | {"u.genre": ("ml-100k/u.genre", "identity")},
                ),
            ),
        ),
        DatasetFiles(
            name="amazon-beauty",
            title="Amazon Beauty 5-core, S3-Rec/P5 version",
            licence="Amazon reviews 2014 (McAuley et al.): non-commercial research use",
            homepage="http://jmcauley.ucsd.edu/data/amazon/",
            files=_files(
                """
42279f722e834b737ba8ce0db247884ea80a1f9d100fe563663351867af46189 226cce9c3105299ca0db9615d7d3fb32b3175e90da43100ae352599f0f0107b8 Beauty.txt.gz
e56011b985ee247e1451b8bd4e19f976c219716bccb3f24de668d6ffc4f6e8f7 129e40f67486f6877eff0f5318cfa8530ee8ac23d8b0d1de04e1bb7a2ba0b2d4 Beauty_item2attributes.json.gz
8e7280b9b5d5ecfc321b260c6c0d394504a06847c1d0998b00cd9fb81bde99f2 715ab04838ff1ba21238475ed453a89e8c30aa6214b904d27a79e4168fc7b612 beauty_datamaps_p5.json.gz
7d3a68c1a5e36fc3696fa67a4f58acaa9dcd719ad18286e7b44bc66ee3be8540 263c3aa578806c6eada730935c385ccabf967a224c4322f9d0911ec23ff0bb0b beauty_items.tsv.gz
1bddcb266033fb25810a88af5054ff606086d56b8acdfaa982e63d6eba797ff8 3d1a1d362c7daeddf616057fae8fa24af9d70902fdaf4631852231a9953afa50 sources/item_id_to_int_dhr.json.gz
9d7e0691f76f3b703be4af79a96b183cedcba758b8e0c5888338e960f800bccd 65133eca0615999df67fc5b26a93a7da762e53e613a083fd6b9e37174896d128 sources/products_lookup_dhr.csv.gz
"""
            ),
            how_to_get=(
                "Beauty.txt and Beauty_item2attributes.json are in data/ of "
                "https://github.com/RUCAIBox/CIKM2020-S3Rec (gzip them); beauty_items.tsv.gz "
                "(item_id, asin, title) is derived from P5's Beauty datamaps and the product names "
                "of https://github.com/dh-r/LLM-Sequential-Recommendation"
            ),
        ),
        DatasetFiles(
            name="amazon-sports",
            title="Amazon Sports and Outdoors 5-core, S3-Rec version",
            licence="Amazon reviews 2014 (McAuley et al.): non-commercial research use",
            homepage="http://jmcauley.ucsd.edu/data/amazon/",
            files=_files(
                """
ca3b69834937279cbad279841cb855b579546c9f679e51bf2f8f4cdef5cb7b73 2a095e0648872beb9982408958290f5d655db5be2911c3756b5446de9f0b8de2 Sports_and_Outdoors.txt.gz
092bd0e6e2fa8ce7351b1920da27791d607976dabad603008d7d965216b99548 7fb10733ac4f1811384a52144cdefa7fcc7536fa80a7232c5da9bd789155c34b Sports_and_Outdoors_item2attributes.json.gz
"""
            ),
            how_to_get="data/ of https://github.com/RUCAIBox/CIKM2020-S3Rec (gzip the files)",
        ),
        DatasetFiles(
            name="amazon-toys",
            title="Amazon Toys and Games 5-core, S3-Rec version",
            licence="Amazon reviews 2014 (McAuley et al.): non-commercial research use",
            homepage="http://jmcauley.ucsd.edu/data/amazon/",
            files=_files(
                """
c522686d4b25c448aa7a8d1f0493d1e454733383b4a4bd358fc5dab8101ca63c 176c680c688d497598c4a89a03b402c0fe78d795e5db335c2e78dd5f2d778a3f Toys_and_Games.txt.gz
4a30310329724f4cb9cd8603d8cea9c6bb3637b214168d78739c4a0d23f3b27c d371acd25101eedac04afc727626464b7acec770c4eda708705d51eb76eb1ad0 Toys_and_Games_item2attributes.json.gz
"""
            ),
            how_to_get="data/ of https://github.com/RUCAIBox/CIKM2020-S3Rec (gzip the files)",
        ),
        DatasetFiles(
            name="frappe",
            title="Frappe context-aware app usage (Baltrunas et al., 2015)",
            licence="Frappe terms: research use, cite the paper, no redistribution, no commercial use",
            homepage="https://arxiv.org/abs/1505.03014",
            files=_files(
                """
e94c172b8f0afc84143921fc33f0aea7198e35ff778e72f0b44005f9ae0fb5df - README.frappe.txt
f07a0a396f3c42a8474ae772c56640c714572d548527f58154655be35ed81835 409edc12f4e2153c5dd58ae171938735911d9b0f70961d5f1086b241656b2cb5 frappe.csv.gz
a83a05a53d9a1f0fbc94fb5d1b797de26e3716add3ba906902922aea43107cd5 de87f6b2e7cd0428f9179167e2e7826b5dd3bf490d5af680261b685763ac214f meta.csv.gz
8ece0e428ba5c1879f2cf298aa65ab5c6c092d5c9716c8a4d5c4ee209dfdc6e7 - nfm/README.nfm.txt
5cd687ff4c5ab8019d388d80a41957026986987ffb7f2a7c46425157926eac45 a2ebaef3a9af8e55f8bb0d08bc4923965e42e43760ebd7635ac2f8c5db99e097 nfm/frappe.test.libfm.gz
f5d3ba2c099144aca521f6eb019e536a82a47eb7485f08ea2f16ec96df565d0c fdf4be563a7dd9b15f7a6e8b32671e90e6e7a2a2bd3af4e10bf13c5ad7e76e9e nfm/frappe.validation.libfm.gz
"""
            ),
            how_to_get=(
                "frappe.csv and meta.csv are in Mobile_Frappe.zip of "
                "https://github.com/irecsys/CARSKit (context-aware_data_sets/); the libfm files are "
                "data/frappe/ of https://github.com/hexiangnan/neural_factorization_machine "
                "(gzip them)"
            ),
            notes="The NFM train split (frappe.train.libfm) is not available; see rebuild_frappe_train.",
        ),
        DatasetFiles(
            name="census-income",
            title="Census-Income (KDD), UCI",
            licence="CC BY 4.0 (UCI Machine Learning Repository)",
            homepage="https://archive.ics.uci.edu/dataset/117/census+income+kdd",
            files=_files(
                """
5ac4cacd3ca9f1ecb10de1a0a41e4ac68fdc419e3fec190f5c0c6cc03b2ea659 98402b1ab879573d0a7f38a699a40258080e25e33d3401e7bf9c96d3fa0fab8c census-income.test.gz
ac11c13fc2a20c533aacea569c5be86c5e15cc155cecf6451a03f1a3e23de46b - census-income.sample.deepctr.csv
8fcee065beae2453c365fabb647d5e66d8ed4ab0a53f51741c6937e598b7a338 - census_income_train_sample.rechub.csv
79357ec0a300de05cb94116c61c1beb0e1e18fa10f5d981b10567dc691b3175c - census_income_val_sample.rechub.csv
ea9f29504ba9e6f6cf57b9db5e18556e305a3cde1bb02cbb2e7bab5f80f0a702 - census_income_test_sample.rechub.csv
"""
            ),
            how_to_get=(
                "census-income.test.gz is in the census-income.tar.gz / census-income-mld folder of "
                "the UCI page https://archive.ics.uci.edu/dataset/117/census+income+kdd"
            ),
            notes="Only the official test file (99,762 rows) is available; the train file is not.",
        ),
        DatasetFiles(
            name="criteo-sample",
            title="Criteo display advertising challenge, small samples",
            licence="Criteo terms: non-commercial research use",
            homepage="https://www.kaggle.com/c/criteo-display-ad-challenge",
            files=_files(
                """
08b84f12a22438fb534e989a5e4fa245726b2bda001983556bc2aea2f094f724 - criteo_sample.deepctr.txt
6da856f4e05fbeecfbe81f92c3a218fde8db0781a079f043cdb1eeed456aa760 - criteo_sample.rechub.csv
"""
            ),
            how_to_get="examples/criteo_sample.txt of https://github.com/shenweichen/DeepCTR",
        ),
        DatasetFiles(
            name="ali-ccp-sample",
            title="Ali-CCP (ESMM), small samples preprocessed by torch-rechub",
            licence="Tianchi terms: research use",
            homepage="https://tianchi.aliyun.com/dataset/408",
            files=_files(
                """
1c1d125bcdfca70c8f5ed24f6221acadab3e19b70e0b06b3eb3adb2af7a0f9b5 - ali_ccp_train_sample.csv
1236e1504b76bf7ceb48dbe3d999ae8b49f61fcda2d684578320fd9fc7821104 - ali_ccp_val_sample.csv
9764a9b8e53b25f85c00e08a89f65ecfadab100cb0834161bd7ef671b7702a09 - ali_ccp_test_sample.csv
"""
            ),
            how_to_get=(
                "examples/ranking/data/ali-ccp/ of https://github.com/datawhalechina/torch-rechub"
            ),
        ),
        DatasetFiles(
            name="amazon-electronics-sample",
            title="Amazon Electronics as processed for DIN, 100-row sample",
            licence="Amazon reviews 2014 (McAuley et al.): non-commercial research use",
            homepage="http://jmcauley.ucsd.edu/data/amazon/",
            files=_files(
                """
266b52fa56851657534acd707843c0ba58caddd57c0c86f15677bccf09f8250a - amazon_electronics_sample.csv
"""
            ),
            how_to_get=(
                "examples/ranking/data/amazon-electronics/ of "
                "https://github.com/datawhalechina/torch-rechub"
            ),
        ),
    ]
}


# -- transforms applied to downloaded members ------------------------------------------------------
def _ml1m_strip_timestamps(data: bytes) -> bytes:
    """``UserID::MovieID::Rating::Timestamp`` lines -> ``UserID::MovieID::Rating`` (same order)."""
    lines = data.split(b"\n")
    return b"\n".join(line.rsplit(b"::", 1)[0] if line else line for line in lines)


def _ml1m_users_below_3000(data: bytes) -> bytes:
    """The lines of users 1-2999 (the official file is sorted by user), timestamps kept."""
    cut = data.find(b"\n3000::")
    if cut < 0:
        raise DataError("ratings.dat has no line of user 3000; is this the ML-1M archive?")
    return data[: cut + 1]


_TRANSFORMS: dict[str, Callable[[bytes], bytes]] = {
    "identity": lambda data: data,
    "ml1m_strip_timestamps": _ml1m_strip_timestamps,
    "ml1m_users_below_3000": _ml1m_users_below_3000,
}


# -- directories -----------------------------------------------------------------------------------
def cache_dir() -> Path:
    """The per-user cache folder: ``$XDG_CACHE_HOME/recnotes``, else ``~/.cache/recnotes``."""
    base = os.environ.get("XDG_CACHE_HOME")
    root = Path(base).expanduser() if base else Path.home() / ".cache"
    return root / "recnotes"


def data_dir() -> Path:
    """The data directory: ``$RECNOTES_DATA`` if set, else `cache_dir` (it may not exist yet).

    Example:
        >>> cache_dir().name  # the fallback when RECNOTES_DATA is not set
        'recnotes'
    """
    root = os.environ.get(ENV_DATA)
    return Path(root).expanduser() if root else cache_dir()


def _dataset(name: str) -> DatasetFiles:
    if not isinstance(name, str) or name not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise UnknownDatasetError(f"unknown dataset {name!r}; known datasets: {known}")
    return REGISTRY[name]


def dataset_dir(name: str, root: str | Path | None = None) -> Path:
    """The folder of one dataset under the data directory (``<data>/ml-1m``)."""
    _dataset(name)
    return (Path(root).expanduser() if root is not None else data_dir()) / name


def file_info(dataset: str, relpath: str) -> DataFile:
    """The registered entry (hashes) of one file; raises `UnknownDatasetError` if unknown."""
    info = _dataset(dataset)
    if relpath not in info.files:
        known = ", ".join(info.files)
        raise UnknownDatasetError(
            f"dataset {dataset!r} has no file {relpath!r}; its files: {known}"
        )
    return info.files[relpath]


# -- hashing and the verification stamp -----------------------------------------------------------
def sha256_file(path: str | Path, *, decompress: bool = False) -> str:
    """sha256 of a file's bytes, or of its gzip-decompressed content when ``decompress``."""
    h = hashlib.sha256()
    opener = gzip.open if decompress else open
    with opener(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


_stamps: dict[str, list] | None = None


def _stamp_file() -> Path:
    return cache_dir() / _STAMP_NAME


def _load_stamps() -> dict[str, list]:
    global _stamps
    if _stamps is None:
        try:
            _stamps = json.loads(_stamp_file().read_text())
            if not isinstance(_stamps, dict):
                _stamps = {}
        except (OSError, ValueError):
            _stamps = {}
    return _stamps


def _stamp_key(path: Path) -> tuple[str, list]:
    st = path.stat()
    return str(path.resolve()), [st.st_size, st.st_mtime_ns]


def _already_verified(path: Path, entry: DataFile) -> bool:
    key, sig = _stamp_key(path)
    return _load_stamps().get(key) == [*sig, entry.sha256]


def _remember_verified(path: Path, entry: DataFile) -> None:
    """Record a successful check; best effort (a read-only cache just means re-hashing later)."""
    stamps = _load_stamps()
    key, sig = _stamp_key(path)
    stamps[key] = [*sig, entry.sha256]
    target = _stamp_file()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with _atomic_target(target) as tmp:
            tmp.write_text(json.dumps(stamps, indent=0, sort_keys=True))
    except OSError:
        pass


def _check(path: Path, entry: DataFile, *, label: str) -> None:
    """Raise `DataChecksumError` unless ``path`` matches ``entry`` (stored or content hash)."""
    if _already_verified(path, entry):
        return
    actual = sha256_file(path)
    ok = actual == entry.sha256
    content = None
    if not ok and entry.content_sha256 is not None:
        try:
            content = sha256_file(path, decompress=path.suffix == ".gz")
        except (OSError, EOFError):
            content = "unreadable: not a valid gzip file"
        ok = content == entry.content_sha256
    if not ok:
        lines = [
            f"checksum mismatch for {label} at {path}:",
            f"  expected sha256 {entry.sha256} (stored bytes)",
        ]
        if entry.content_sha256:
            lines.append(f"        or sha256 {entry.content_sha256} (decompressed content)")
        lines.append(f"  found    sha256 {actual}" + (f" (content {content})" if content else ""))
        lines.append("The file is corrupt or a different version; delete it and fetch it again.")
        raise DataChecksumError("\n".join(lines))
    _remember_verified(path, entry)


# -- fetching --------------------------------------------------------------------------------------
def fetch(
    dataset: str,
    relpath: str,
    *,
    root: str | Path | None = None,
    download: bool | None = None,
    progress: bool = True,
) -> Path:
    """Return the verified path of one registered data file, downloading it if possible.

    Args:
        dataset: a name in `REGISTRY` (``"ml-1m"``).
        relpath: a file of that dataset (``"users.dat.gz"``, ``"ncf/ml-1m.test.rating.gz"``).
            When a ``.gz`` file is absent but its uncompressed twin is present (``users.dat``),
            the twin is checked against the content hash and returned.
        root: the data directory; default `data_dir`.
        download: try the official download when the file is missing; default: yes unless
            ``RECNOTES_OFFLINE=1``.
        progress: show a progress bar while downloading.

    Returns:
        The path of a file whose sha256 matches the registry.

    Raises:
        UnknownDatasetError: the dataset or the file is not registered.
        DataChecksumError: the file (or the download) has the wrong sha256.
        DataNotFoundError: the file is missing and could not be downloaded; the message names
            the full path to put it at and where to get it.
    """
    info = _dataset(dataset)
    entry = file_info(dataset, relpath)
    folder = dataset_dir(dataset, root)
    path = folder / relpath
    label = f"{dataset}/{relpath}"
    if path.is_file():
        _check(path, entry, label=label)
        return path
    twin = path.with_suffix("") if path.suffix == ".gz" else None
    if twin is not None and twin.is_file() and entry.content_sha256:
        _check(twin, DataFile(relpath[:-3], entry.content_sha256), label=f"{label} (uncompressed)")
        return twin

    if download is None:
        download = os.environ.get(ENV_OFFLINE, "").lower() not in ("1", "true", "yes")
    source = info.download_for(relpath)
    local = folder / _archive_name(source) if source is not None and source.kind == "zip" else None
    reason = "no official download exists for this file"
    if source is not None and not download:
        reason = f"downloads are off ({ENV_OFFLINE}=1 or download=False)"
    attempts: list[tuple[str, Callable[[], None]]] = []
    if local is not None and local.is_file():  # the user's own copy of the official archive
        attempts.append((f"reading {local}", lambda: _install_from(info, source, folder, local)))
    if source is not None and download:
        attempts.append(
            (
                f"downloading {source.url}",
                lambda: _download(info, source, folder, progress=progress),
            )
        )
    for what, attempt in attempts:
        try:
            attempt()
        except DataChecksumError as exc:
            if not path.is_file():
                raise
            warnings.warn(str(exc), stacklevel=2)  # another file of the archive failed
        except (OSError, urllib.error.URLError, zipfile.BadZipFile, DataError) as exc:
            reason = f"{what} failed: {exc}"
        if path.is_file():
            _check(path, entry, label=label)
            return path
    local_hint = (
        f"  Or put the official archive {source.url} at {local}; recnotes extracts the file from it.\n"  # type: ignore[union-attr]
        if local is not None
        else ""
    )
    raise DataNotFoundError(
        f"missing data file {label}.\n"
        f"  Put it at: {path}\n"
        f"  sha256:    {entry.sha256}"
        + (f" (or decompressed content {entry.content_sha256})" if entry.content_sha256 else "")
        + f"\n  Where to get it: {info.how_to_get}.\n"
        + local_hint
        + f"  Why it was not downloaded: {reason}.\n"
        f"  The data directory is {folder.parent} (set {ENV_DATA} to use another folder)."
    )


def verify_dataset(dataset: str, root: str | Path | None = None) -> dict[str, str]:
    """Check every registered file of a dataset without downloading: ``relpath -> status``.

    The status is ``"ok"``, ``"missing"`` or ``"checksum mismatch"``.
    """
    info = _dataset(dataset)
    out: dict[str, str] = {}
    for rel in info.files:
        try:
            fetch(dataset, rel, root=root, download=False)
            out[rel] = "ok"
        except DataNotFoundError:
            out[rel] = "missing"
        except DataChecksumError:
            out[rel] = "checksum mismatch"
    return out


def _open_url(url: str):
    """Open a URL for streaming (tests replace this to simulate servers and failures)."""
    return urllib.request.urlopen(url, timeout=_TIMEOUT_S)  # noqa: S310 (fixed official URLs)


@contextlib.contextmanager
def _atomic_target(target: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; move it onto ``target`` only on success."""
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _stream_to(url: str, out: BinaryIO, *, progress: bool, desc: str) -> None:
    with contextlib.closing(_open_url(url)) as response:
        total = response.headers.get("Content-Length") if hasattr(response, "headers") else None
        with tqdm(
            total=int(total) if total else None,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=desc,
            disable=not progress,
        ) as bar:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
                bar.update(len(chunk))


def _archive_name(source: Download) -> str:
    return source.url.rstrip("/").rsplit("/", 1)[-1]


def _download(info: DatasetFiles, source: Download, folder: Path, *, progress: bool) -> None:
    """Download one source and install every file it produces that is missing, each verified."""
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    name = _archive_name(source)
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            _stream_to(source.url, out, progress=progress, desc=f"{info.name}: {name}")
        _install_from(info, source, folder, tmp, origin=source.url)
    finally:
        tmp.unlink(missing_ok=True)
        if created and not any(folder.iterdir()):
            folder.rmdir()  # a failed first download leaves no empty dataset folder behind


def _install_from(
    info: DatasetFiles,
    source: Download,
    folder: Path,
    archive_path: Path,
    origin: str | None = None,
) -> None:
    """Install the files of ``source`` from a local copy of its archive (or single file)."""
    origin = origin or str(archive_path)
    if source.kind != "zip":
        data = archive_path.read_bytes()
        _install(info, source, folder, lambda _member: data, origin)
        return
    with zipfile.ZipFile(archive_path) as archive:
        members = set(archive.namelist())
        cache: dict[str, bytes] = {}

        def read(member: str) -> bytes:
            if member not in members:
                raise DataError(f"{archive_path.name} has no member {member!r}")
            if member not in cache:
                cache[member] = archive.read(member)
            return cache[member]

        _install(info, source, folder, read, origin)


def _install(
    info: DatasetFiles,
    source: Download,
    folder: Path,
    read: Callable[[str], bytes],
    origin: str,
) -> None:
    """Produce, verify and atomically place every missing file of ``source``."""
    failures: list[str] = []
    for rel, (member, transform) in source.produces.items():
        target = folder / rel
        if target.is_file():
            continue
        entry = info.files[rel]
        content = _TRANSFORMS[transform](read(member))
        expected = entry.content_sha256 if rel.endswith(".gz") else entry.sha256
        actual = hashlib.sha256(content).hexdigest()
        if actual != expected:
            failures.append(
                f"{info.name}/{rel} built from {origin} has sha256 {actual}, expected {expected}"
            )
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with _atomic_target(target) as tmp:
            if rel.endswith(".gz"):
                with (
                    open(tmp, "wb") as raw,
                    gzip.GzipFile(
                        filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0
                    ) as gz,
                ):
                    gz.write(content)
            else:
                tmp.write_bytes(content)
            # what we wrote must read back as what we verified
            back = gzip.decompress(tmp.read_bytes()) if rel.endswith(".gz") else tmp.read_bytes()
            if hashlib.sha256(back).hexdigest() != expected:
                raise DataError(f"writing {target} did not round-trip")
    if failures:
        raise DataChecksumError(
            "the download does not match the registered checksums:\n  "
            + "\n  ".join(failures)
            + "\nThe official archive may have changed; nothing was installed for these files."
        )


def _read_bytes(path: Path) -> bytes:
    """All bytes of a data file, gunzipped when it ends in ``.gz``."""
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data
