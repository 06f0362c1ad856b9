"""The Zoho token cache in a folder others can reach ("hostile input"): it is written to a
fresh 0600 temporary file (O_EXCL | O_NOFOLLOW) renamed over the cache, never through a
symlink planted at the temporary or the cache path, and only in a folder nobody else may
write to. A refusal is a ConfigError naming the path and what to do; nothing is written
through the symlink."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import responses
from test_zoho_connector import API, TOKEN_URL, TOKENS, Clock, add_tokens, calls_to, make

from presales_sync.connector import ConfigError
from presales_sync.connector import _secrets_file as secret_files
from presales_sync.connector.zoho._auth import CacheEntry, TokenCache

WHAT = "the Zoho token cache"


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        add_tokens(mock)
        mock.get(f"{API}/users", json={"users": [{"id": "1"}]})
        yield mock


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder of ours, as a shared one would be once its mode is changed."""
    path = tmp_path / "shared"
    path.mkdir(mode=0o700)
    return path


def victim(tmp_path: Path) -> Path:
    """The file an attacker wants the token in: theirs, readable by all."""
    target = tmp_path / "attacker-owned.json"
    target.write_text("")
    target.chmod(0o666)
    return target


def test_the_cache_is_0600_whatever_the_umask(rsps: responses.RequestsMock, folder: Path) -> None:
    cache = folder / "zoho-token.json"
    old = os.umask(0)
    try:
        make(Clock(), token_cache=cache).current_user()
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.lstat(cache).st_mode) == 0o600
    assert TOKENS[0] in cache.read_text()
    assert [p.name for p in folder.iterdir()] == [cache.name]  # no temporary file left


def test_a_symlink_at_the_old_predictable_temp_name_is_not_followed(rsps: responses.RequestsMock,
                                                                    folder: Path, tmp_path: Path) -> None:
    """The reported attack: the cache's temporary file used to be ``<cache>.<pid>.tmp``,
    opened without O_EXCL, so a symlink planted there took the token."""
    cache = folder / "zoho-token.json"
    target = victim(tmp_path)
    (folder / f"{cache.name}.{os.getpid()}.tmp").symlink_to(target)
    make(Clock(), token_cache=cache).current_user()
    assert target.read_text() == ""  # nothing written through the symlink
    assert not cache.is_symlink() and stat.S_IMODE(cache.stat().st_mode) == 0o600


def test_a_symlink_planted_at_the_temp_path_is_refused(monkeypatch: pytest.MonkeyPatch, folder: Path,
                                                       tmp_path: Path) -> None:
    cache = folder / "zoho-token.json"
    target = victim(tmp_path)
    planted = folder / ".planted.tmp"
    planted.symlink_to(target)
    monkeypatch.setattr(secret_files, "temp_path", lambda _path: planted)
    with pytest.raises(ConfigError, match=r"already exists \(a planted file or symlink\?\)") as info:
        TokenCache(cache, "key").save(CacheEntry(user_id="1"))
    assert str(planted) in str(info.value)
    assert target.read_text() == "" and not cache.exists() and planted.is_symlink()


def test_a_symlink_at_the_cache_path_is_refused(rsps: responses.RequestsMock, folder: Path,
                                                tmp_path: Path) -> None:
    cache = folder / "zoho-token.json"
    target = victim(tmp_path)
    cache.symlink_to(target)
    with pytest.raises(ConfigError, match="is a symbolic link") as info:
        make(Clock(), token_cache=cache).current_user()
    assert str(cache) in str(info.value)
    assert calls_to(rsps, TOKEN_URL) == []  # refused before any token is minted
    with pytest.raises(ConfigError, match="is a symbolic link"):
        TokenCache(cache, "key").save(CacheEntry(user_id="1"))
    assert target.read_text() == "" and cache.is_symlink()


@pytest.mark.parametrize("mode, who", [(0o777, "its group and other users"),
                                       (0o1777, "its group and other users"),  # sticky, as /tmp
                                       (0o770, "its group"), (0o702, "other users")])
def test_a_folder_others_can_write_is_refused(rsps: responses.RequestsMock, folder: Path, mode: int,
                                              who: str) -> None:
    cache = folder / "zoho-token.json"
    folder.chmod(mode)
    try:
        with pytest.raises(ConfigError) as info:
            make(Clock(), token_cache=cache).current_user()
    finally:
        folder.chmod(0o700)
    message = str(info.value)
    assert f"refusing to keep {WHAT} in {folder}" in message and f"writable by {who}" in message
    assert f"chmod go-w {folder}" in message
    assert not cache.exists() and calls_to(rsps, TOKEN_URL) == []


def test_a_cache_written_safely_is_read_back(rsps: responses.RequestsMock, folder: Path) -> None:
    cache = folder / "zoho-token.json"
    make(Clock(), token_cache=cache).current_user()
    again = make(Clock(), token_cache=cache)
    assert again.current_user() == "1"
    assert len(calls_to(rsps, TOKEN_URL)) == 1  # the cached token was used
    cache.write_text("not json")
    assert TokenCache(cache, "key").load() == CacheEntry()  # a broken cache is no cache
