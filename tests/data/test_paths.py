"""The data directory, the checksum registry, verification stamps and atomic downloads.

Downloads are tested offline: a zip (or a plain file) built in the test is served through a
``file://`` URL or a replaced ``_open_url``; nothing reaches the network.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import urllib.error
import zipfile
from pathlib import Path

import pytest

from recnotes.data import paths
from recnotes.data.paths import (
    REGISTRY,
    DataChecksumError,
    DataFile,
    DataNotFoundError,
    DatasetFiles,
    Download,
    UnknownDatasetError,
    data_dir,
    fetch,
    file_info,
    verify_dataset,
)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- the data directory ----------------------------------------------------------------------------
def test_data_dir_prefers_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("RECNOTES_DATA", str(tmp_path / "datasets"))
    assert data_dir() == tmp_path / "datasets"


def test_data_dir_falls_back_to_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.delenv("RECNOTES_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_dir() == tmp_path / "xdg" / "recnotes"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_dir() == tmp_path / "home" / ".cache" / "recnotes"


# -- names ------------------------------------------------------------------------------------------
def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(UnknownDatasetError, match="known datasets: .*ml-1m"):
        fetch("movielens-20m", "ratings.csv")


def test_unknown_file_lists_the_dataset_files():
    with pytest.raises(UnknownDatasetError, match="has no file 'ratings.dat'.*users.dat.gz"):
        file_info("ml-1m", "ratings.dat")


# -- the registry against the shared SHA256SUMS -------------------------------------------------------
def test_registry_matches_sha256sums(require_data):
    root = require_data("SHA256SUMS")
    listed = {}
    for line in (root / "SHA256SUMS").read_text().splitlines():
        digest, rel = line.split()
        listed[rel] = digest
    registered = {
        f"{name}/{rel}": entry.sha256
        for name, info in REGISTRY.items()
        for rel, entry in info.files.items()
    }
    assert registered == listed


def test_every_registered_file_verifies(require_data):
    require_data("SHA256SUMS")
    for name in REGISTRY:
        statuses = verify_dataset(name)
        assert set(statuses.values()) == {"ok"}, (name, statuses)


def test_content_hashes_of_gz_files_match(require_data):
    # the content hash is what lets a user's own gzip (or a download) pass: check it on real files
    root = require_data("ml-100k/u.user.gz", "frappe/nfm/frappe.test.libfm.gz")
    for dataset, rel in [("ml-100k", "u.user.gz"), ("frappe", "nfm/frappe.test.libfm.gz")]:
        entry = file_info(dataset, rel)
        content = gzip.decompress((root / dataset / rel).read_bytes())
        assert sha(content) == entry.content_sha256


# -- a toy dataset for the local tests -----------------------------------------------------------
CONTENT = b"1\t2\t5\n3\t4\t1\n"
PLAIN = b"hello recnotes\n"


def toy_dataset(url: str | None = None, kind: str = "zip") -> DatasetFiles:
    gz_stored = gzip.compress(CONTENT, mtime=0)
    files = {
        "table.tsv.gz": DataFile("table.tsv.gz", sha(gz_stored), sha(CONTENT)),
        "notes.txt": DataFile("notes.txt", sha(PLAIN)),
    }
    downloads = ()
    if url is not None and kind == "zip":
        downloads = (
            Download(
                url,
                {
                    "table.tsv.gz": ("toy/table.tsv", "identity"),
                    "notes.txt": ("toy/notes.txt", "identity"),
                },
            ),
        )
    elif url is not None:
        downloads = (Download(url, {"table.tsv.gz": ("", "identity")}, kind="file"),)
    return DatasetFiles(
        name="toy",
        title="toy",
        licence="none",
        homepage="https://example.org/toy",
        files=files,
        how_to_get="the toy archive at https://example.org/toy.zip",
        downloads=downloads,
    )


def toy_zip(path: Path, table: bytes = CONTENT) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("toy/table.tsv", table)
        z.writestr("toy/notes.txt", PLAIN)
    return path


@pytest.fixture
def root(tmp_path):
    return tmp_path / "data"


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".part"))


def test_missing_file_says_where_to_put_it(monkeypatch, root):
    monkeypatch.setitem(REGISTRY, "toy", toy_dataset())
    with pytest.raises(DataNotFoundError) as err:
        fetch("toy", "table.tsv.gz", root=root)
    message = str(err.value)
    assert str(root / "toy" / "table.tsv.gz") in message
    assert "https://example.org/toy.zip" in message
    assert "no official download" in message
    assert sha(gzip.compress(CONTENT, mtime=0)) in message


def test_present_file_is_verified_and_stamped(monkeypatch, root):
    monkeypatch.setitem(REGISTRY, "toy", toy_dataset())
    (root / "toy").mkdir(parents=True)
    (root / "toy" / "notes.txt").write_bytes(PLAIN)
    calls = []
    real = paths.sha256_file
    monkeypatch.setattr(paths, "sha256_file", lambda *a, **k: calls.append(a) or real(*a, **k))
    assert fetch("toy", "notes.txt", root=root) == root / "toy" / "notes.txt"
    assert len(calls) == 1
    fetch("toy", "notes.txt", root=root)
    assert len(calls) == 1, "a verified, unchanged file is not hashed again"
    monkeypatch.setattr(paths, "_stamps", None)  # a new process reads the JSON stamp
    fetch("toy", "notes.txt", root=root)
    assert len(calls) == 1
    assert (paths.cache_dir() / "verified.json").is_file()


def test_changed_file_is_hashed_again_and_rejected(monkeypatch, root):
    monkeypatch.setitem(REGISTRY, "toy", toy_dataset())
    target = root / "toy" / "notes.txt"
    target.parent.mkdir(parents=True)
    target.write_bytes(PLAIN)
    fetch("toy", "notes.txt", root=root)
    target.write_bytes(b"tampered, and longer than before\n")
    with pytest.raises(DataChecksumError) as err:
        fetch("toy", "notes.txt", root=root)
    message = str(err.value)
    assert "toy/notes.txt" in message
    assert sha(PLAIN) in message and sha(b"tampered, and longer than before\n") in message


def test_gz_with_other_compression_passes_by_content(monkeypatch, root):
    monkeypatch.setitem(REGISTRY, "toy", toy_dataset())
    target = root / "toy" / "table.tsv.gz"
    target.parent.mkdir(parents=True)
    target.write_bytes(gzip.compress(CONTENT, compresslevel=1, mtime=12345))
    assert fetch("toy", "table.tsv.gz", root=root) == target


def test_corrupt_gz_is_a_checksum_error(monkeypatch, root):
    monkeypatch.setitem(REGISTRY, "toy", toy_dataset())
    target = root / "toy" / "table.tsv.gz"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not gzip at all")
    with pytest.raises(DataChecksumError, match="not a valid gzip"):
        fetch("toy", "table.tsv.gz", root=root)


def test_uncompressed_twin_is_accepted(monkeypatch, root):
    monkeypatch.setitem(REGISTRY, "toy", toy_dataset())
    twin = root / "toy" / "table.tsv"
    twin.parent.mkdir(parents=True)
    twin.write_bytes(CONTENT)
    assert fetch("toy", "table.tsv.gz", root=root) == twin


# -- downloads ---------------------------------------------------------------------------------------
def test_download_from_a_zip_installs_verified_files(monkeypatch, tmp_path, root):
    archive = toy_zip(tmp_path / "toy.zip")
    monkeypatch.setitem(REGISTRY, "toy", toy_dataset(archive.as_uri()))
    path = fetch("toy", "table.tsv.gz", root=root, progress=False)
    assert path == root / "toy" / "table.tsv.gz"
    assert gzip.decompress(path.read_bytes()) == CONTENT
    assert (root / "toy" / "notes.txt").read_bytes() == PLAIN  # the whole archive was used
    assert leftovers(root) == []
    assert fetch("toy", "notes.txt", root=root) == root / "toy" / "notes.txt"


def test_a_local_copy_of_the_archive_is_used_offline(monkeypatch, tmp_path, root):
    def must_not_run(url):
        raise AssertionError("downloaded although the archive is already there")

    monkeypatch.setitem(REGISTRY, "toy", toy_dataset("https://example.org/toy.zip"))
    monkeypatch.setattr(paths, "_open_url", must_not_run)
    with pytest.raises(
        DataNotFoundError, match=f"Or put the official archive .* at {root / 'toy' / 'toy.zip'}"
    ):
        fetch("toy", "table.tsv.gz", root=root, download=False)
    (root / "toy").mkdir(parents=True, exist_ok=True)
    toy_zip(root / "toy" / "toy.zip")
    path = fetch("toy", "table.tsv.gz", root=root, download=False)
    assert gzip.decompress(path.read_bytes()) == CONTENT
    assert (root / "toy" / "toy.zip").is_file(), "the user's archive is kept"


def test_download_of_a_single_file(monkeypatch, tmp_path, root):
    source = tmp_path / "table.tsv"
    source.write_bytes(CONTENT)
    monkeypatch.setitem(REGISTRY, "toy", toy_dataset(source.as_uri(), kind="file"))
    path = fetch("toy", "table.tsv.gz", root=root, progress=False)
    assert gzip.decompress(path.read_bytes()) == CONTENT


def test_interrupted_download_leaves_nothing(monkeypatch, tmp_path, root):
    archive = toy_zip(tmp_path / "toy.zip").read_bytes()

    class Broken(io.BytesIO):
        headers = {"Content-Length": str(len(archive))}

        def read(self, n=-1):
            if self.tell() > 0:
                raise ConnectionResetError("connection reset by peer")
            return super().read(10)

    monkeypatch.setitem(REGISTRY, "toy", toy_dataset("https://example.org/toy.zip"))
    monkeypatch.setattr(paths, "_open_url", lambda url: Broken(archive))
    with pytest.raises(DataNotFoundError, match="connection reset"):
        fetch("toy", "table.tsv.gz", root=root, progress=False)
    assert not (root / "toy" / "table.tsv.gz").exists()
    assert leftovers(root) == []


def test_no_network_is_a_clear_not_found(monkeypatch, root):
    def offline(url):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setitem(REGISTRY, "toy", toy_dataset("https://example.org/toy.zip"))
    monkeypatch.setattr(paths, "_open_url", offline)
    with pytest.raises(DataNotFoundError) as err:
        fetch("toy", "table.tsv.gz", root=root, progress=False)
    assert "name resolution" in str(err.value)
    assert str(root / "toy" / "table.tsv.gz") in str(err.value)
    assert not (root / "toy").exists(), "a failed first download leaves no empty folder"


def test_offline_switch_skips_the_download(monkeypatch, root):
    def must_not_run(url):
        raise AssertionError("downloaded although RECNOTES_OFFLINE=1")

    monkeypatch.setitem(REGISTRY, "toy", toy_dataset("https://example.org/toy.zip"))
    monkeypatch.setattr(paths, "_open_url", must_not_run)
    monkeypatch.setenv("RECNOTES_OFFLINE", "1")
    with pytest.raises(DataNotFoundError, match="downloads are off"):
        fetch("toy", "table.tsv.gz", root=root)


def test_download_with_wrong_content_installs_nothing(monkeypatch, tmp_path, root):
    archive = toy_zip(tmp_path / "toy.zip", table=b"something else\n")
    monkeypatch.setitem(REGISTRY, "toy", toy_dataset(archive.as_uri()))
    with pytest.raises(DataChecksumError, match="toy/table.tsv.gz"):
        fetch("toy", "table.tsv.gz", root=root, progress=False)
    assert not (root / "toy" / "table.tsv.gz").exists()
    assert leftovers(root) == []


def test_not_a_zip_is_a_clear_not_found(monkeypatch, tmp_path, root):
    bogus = tmp_path / "toy.zip"
    bogus.write_bytes(b"<html>rate limited</html>")
    monkeypatch.setitem(REGISTRY, "toy", toy_dataset(bogus.as_uri()))
    with pytest.raises(DataNotFoundError, match="File is not a zip file"):
        fetch("toy", "table.tsv.gz", root=root, progress=False)
    assert leftovers(root) == []


# -- the real GroupLens layouts, rebuilt from the shared files and served locally ----------------
def serve(monkeypatch, url: str, archive: Path) -> None:
    def opener(requested):
        assert requested == url
        return open(archive, "rb")

    monkeypatch.setattr(paths, "_open_url", opener)


def test_ml1m_zip_layout_produces_the_registered_files(monkeypatch, tmp_path, require_data):
    shared = (
        require_data(
            "ml-1m/ratings_no_timestamp.dat.gz",
            "ml-1m/ratings_users0001-2999.dat.gz",
            "ml-1m/movies.dat.gz",
            "ml-1m/users.dat.gz",
        )
        / "ml-1m"
    )
    # The official ratings.dat has every timestamp; ours are known for users 1-2999 only, so the
    # other lines get a stand-in timestamp. The derived files do not depend on those values.
    stamped = gzip.decompress((shared / "ratings_users0001-2999.dat.gz").read_bytes())
    plain = gzip.decompress((shared / "ratings_no_timestamp.dat.gz").read_bytes())
    rest = plain.split(b"\n")[stamped.count(b"\n") :]
    ratings = stamped + b"\n".join(line + b"::978300000" for line in rest if line) + b"\n"
    archive = tmp_path / "ml-1m.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as z:
        z.writestr("ml-1m/ratings.dat", ratings)
        z.writestr("ml-1m/movies.dat", gzip.decompress((shared / "movies.dat.gz").read_bytes()))
        z.writestr("ml-1m/users.dat", gzip.decompress((shared / "users.dat.gz").read_bytes()))
        z.writestr("ml-1m/README", b"readme\n")
    serve(monkeypatch, "https://files.grouplens.org/datasets/movielens/ml-1m.zip", archive)
    root = tmp_path / "data"
    fetch("ml-1m", "ratings_no_timestamp.dat.gz", root=root, progress=False)
    for rel in ["movies.dat.gz", "users.dat.gz", "ratings_users0001-2999.dat.gz"]:
        assert (root / "ml-1m" / rel).is_file(), rel
        fetch("ml-1m", rel, root=root)  # verified by content hash
    assert leftovers(root) == []


def test_ml100k_zip_layout_produces_the_registered_files(monkeypatch, tmp_path, require_data):
    shared = require_data("ml-100k/u.data.gz", "ml-100k/u1.base.gz", "ml-100k/u.genre") / "ml-100k"
    archive = tmp_path / "ml-100k.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for member in sorted(shared.iterdir()):
            data = member.read_bytes()
            name = member.name
            if name.endswith(".gz"):
                data, name = gzip.decompress(data), name[:-3]
            z.writestr(f"ml-100k/{name}", data)
    serve(monkeypatch, "https://files.grouplens.org/datasets/movielens/ml-100k.zip", archive)
    root = tmp_path / "data"
    fetch("ml-100k", "ub.test.gz", root=root, progress=False)
    from recnotes.data.datasets import load_movielens_100k

    assert len(load_movielens_100k(root=root).ratings) == 100_000
