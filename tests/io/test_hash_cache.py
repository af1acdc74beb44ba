"""The provenance hash of large inputs: SHA-256 equal to hashlib's, cached per file version."""

from __future__ import annotations

import hashlib
import os

import pytest

from thermcli.io import provenance


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("THERMCLI_CACHE_DIR", str(root))
    monkeypatch.setattr(provenance, "HASH_CACHE_MIN_BYTES", 0)
    return root


def _entries(root):
    return sorted((root / "sha256").glob("*")) if (root / "sha256").is_dir() else []


@pytest.mark.parametrize("size", [0, 1, (1 << 20) + 3, (64 << 20) + 17])
def test_digest_equals_hashlib(tmp_path, size, monkeypatch):
    monkeypatch.setenv("THERMCLI_CACHE_DIR", "off")
    data = os.urandom(size)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert provenance.sha256_path(path) == hashlib.sha256(data).hexdigest()


def test_cached_once_and_reused(tmp_path, cache, monkeypatch):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc" * 1000)
    first = provenance.sha256_path(path)
    assert first == hashlib.sha256(b"abc" * 1000).hexdigest()
    (entry,) = _entries(cache)
    assert entry.read_text().strip() == first
    calls = []
    monkeypatch.setattr(provenance, "_sha256_file", lambda p: calls.append(p) or "0" * 64)
    assert provenance.sha256_path(path) == first  # from the cache, the file not read
    assert calls == []


def test_changed_file_is_hashed_again(tmp_path, cache):
    path = tmp_path / "f.bin"
    path.write_bytes(b"a" * 4096)
    before = provenance.sha256_path(path)
    st = path.stat()
    path.write_bytes(b"b" * 4096)  # same size; restore the old mtime: the change time still differs
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = provenance.sha256_path(path)
    assert after == hashlib.sha256(b"b" * 4096).hexdigest() != before
    assert len(_entries(cache)) == 2


def test_corrupt_entry_is_ignored(tmp_path, cache):
    path = tmp_path / "f.bin"
    path.write_bytes(b"xyz")
    provenance.sha256_path(path)
    (entry,) = _entries(cache)
    entry.write_text("not a digest\n")
    assert provenance.sha256_path(path) == hashlib.sha256(b"xyz").hexdigest()


def test_small_files_and_off_are_not_cached(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("THERMCLI_CACHE_DIR", str(root))
    path = tmp_path / "f.bin"
    path.write_bytes(b"small")
    provenance.sha256_path(path)  # below HASH_CACHE_MIN_BYTES
    assert not root.exists()
    monkeypatch.setattr(provenance, "HASH_CACHE_MIN_BYTES", 0)
    monkeypatch.setenv("THERMCLI_CACHE_DIR", "off")
    provenance.sha256_path(path)
    assert not root.exists()


def test_unwritable_cache_is_skipped(tmp_path, monkeypatch):
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    monkeypatch.setenv("THERMCLI_CACHE_DIR", str(blocker))
    monkeypatch.setattr(provenance, "HASH_CACHE_MIN_BYTES", 0)
    path = tmp_path / "f.bin"
    path.write_bytes(b"data")
    assert provenance.sha256_path(path) == hashlib.sha256(b"data").hexdigest()


def test_default_location(monkeypatch, tmp_path):
    monkeypatch.delenv("THERMCLI_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert provenance.hash_cache_dir() == tmp_path / "thermcli"
