"""Files that hold secrets (an access-token cache), written and read so that nobody else
can read them or make us write them somewhere else.

A cache usually sits beside a config file, often in a shared folder. Whoever may write to
that folder can plant a symlink where we are about to write (the temporary file, or the
file itself) and have the secret land in a file of theirs, or swap in a file of their own
for us to trust. So:

* the folder must not be writable by the group or by others (`check_folder`);
* the file is written to a new temporary file in the same folder, created mode 0600 with
  ``O_CREAT | O_EXCL | O_NOFOLLOW`` (a file or symlink already there is refused, never
  followed), flushed to disk, then renamed over the target with `os.replace`;
* a symlink (or anything but a regular file) at the target is refused, for writing and
  for reading.

Every refusal is a `ConfigError` naming the path and what to do about it."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from presales_sync.connector.errors import ConfigError

#: Mode of every file written here, and of a folder created for one.
FILE_MODE = 0o600
FOLDER_MODE = 0o700
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def check_folder(folder: Path, what: str) -> None:
    """`ConfigError` unless `folder` is writable by its owner alone: anyone else who can
    write there can redirect `what` through a symlink or replace it."""
    try:
        mode = os.stat(folder).st_mode
    except OSError as err:
        raise ConfigError(f"cannot use the folder {folder} for {what}: {err.strerror}") from None
    others = [who for who, bit in (("its group", stat.S_IWGRP), ("other users", stat.S_IWOTH)) if mode & bit]
    if others:
        raise ConfigError(
            f"refusing to keep {what} in {folder}: the folder is writable by {' and '.join(others)} "
            f"(mode {stat.S_IMODE(mode):o}), who could redirect or replace the file; keep it in a folder "
            f"only you can write (chmod go-w {folder}) or choose another path")


def _refuse_non_regular(path: Path, what: str) -> bool:
    """Whether `path` exists; `ConfigError` if it is a symlink or not a regular file."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    except OSError as err:
        raise ConfigError(f"cannot use {path} for {what}: {err.strerror}") from None
    if stat.S_ISLNK(mode):
        raise ConfigError(f"refusing to use {path} for {what}: it is a symbolic link; remove it "
                          "(someone may be trying to redirect the secret)")
    if not stat.S_ISREG(mode):
        raise ConfigError(f"refusing to use {path} for {what}: it is not a regular file")
    return True


def temp_path(path: Path) -> Path:
    """A new name beside `path` for the file being written (hard to guess; created with
    O_EXCL, so anything already there is refused, not followed)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp")


def write_secret_file(path: Path, text: str, *, what: str) -> None:
    """Replace `path` with `text` (UTF-8), mode 0600, atomically. The folder is created
    (0700) when missing and must pass `check_folder`."""
    folder = path.parent
    try:
        folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"cannot create the folder {folder} for {what}: {err.strerror}") from None
    check_folder(folder, what)
    _refuse_non_regular(path, what)
    tmp = temp_path(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, FILE_MODE)
    except FileExistsError:
        raise ConfigError(f"refusing to write {what}: {tmp} already exists (a planted file or symlink?); "
                          "remove it") from None
    except OSError as err:
        raise ConfigError(f"cannot write {what} in {folder}: {err.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        _refuse_non_regular(path, what)  # planted while we wrote
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError):
            raise ConfigError(f"cannot write {what} {path}: {err.strerror}") from None
        raise
    _sync_folder(folder)


def _sync_folder(folder: Path) -> None:
    """Make the rename durable (best effort: not every platform opens folders)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | _CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read_secret_file(path: Path, *, what: str) -> str | None:
    """The text of `path`, None when it does not exist. A symlink at `path`, or a folder
    others may write to, is a `ConfigError`: what such a file says cannot be trusted."""
    if path.parent.is_dir():  # a missing folder holds nothing yet; writing creates it
        check_folder(path.parent, what)
    if not _refuse_non_regular(path, what):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise ConfigError(f"cannot read {what} {path}: {err.strerror}") from None
    with os.fdopen(fd, "r", encoding="utf-8", errors="replace") as fh:
        return fh.read()


__all__ = ["check_folder", "read_secret_file", "write_secret_file"]
