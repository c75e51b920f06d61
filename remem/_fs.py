"""Private files and folders: what remem creates for its data is readable by its owner only.

Memories and API key hashes are personal data, so the store file, its ``-wal``/``-shm`` companions
and the keys file are created 0600, and the folders remem makes for them 0700, whatever the umask.
A file that already exists is tightened when remem opens it if it is group- or world-accessible
and belongs to the current user (someone else's file is left alone: it is not ours to change).
Folders that already exist are never changed: ``--db ~/notes/memory.db`` must not touch ``~/notes``.
On systems without POSIX permissions (Windows) these helpers only create what is missing.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700
# SQLite's companions of a database file (WAL mode); they hold recent writes in clear.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
_POSIX = os.name == "posix"


def private_dir(path: str | Path) -> Path:
    """Create ``path`` and any missing parents as 0700 folders; existing ones are left as they are.

    Returns:
        The folder (``~`` expanded).

    Raises:
        OSError: a folder cannot be created.
    """
    folder = Path(path).expanduser()
    missing: list[Path] = []
    current = folder
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for item in reversed(missing):
        try:
            # mkdir's mode is filtered by the umask; chmod sets it exactly.
            item.mkdir(mode=DIR_MODE)
        except FileExistsError:  # created by another process meanwhile: theirs to set
            continue
        if _POSIX:
            os.chmod(item, DIR_MODE)
    return folder


def private_file(path: str | Path) -> Path:
    """Make sure ``path`` exists as a file only its owner can read and write.

    A missing file is created empty with mode 0600 (its missing folders 0700), so a database
    opened on it afterwards never exists with looser permissions, not even for a moment. An
    existing file is tightened (see ``tighten``).

    Returns:
        The file (``~`` expanded).

    Raises:
        OSError: the file or a folder cannot be created.
    """
    file = Path(path).expanduser()
    private_dir(file.parent)
    try:
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        tighten(file)
        return file
    os.close(fd)
    if _POSIX:
        os.chmod(file, FILE_MODE)  # the umask may have removed bits, never added: exact anyway
    return file


def private_sqlite(path: str | Path) -> Path:
    """``private_file`` for a SQLite database, and ``tighten`` for its existing companions.

    SQLite creates ``-wal``, ``-shm`` and ``-journal`` files with the database file's mode, so
    a 0600 database gets 0600 companions; companions left by an older, looser file are tightened.

    Returns:
        The database file (``~`` expanded).
    """
    file = private_file(path)
    for suffix in SQLITE_COMPANIONS:
        companion = file.with_name(file.name + suffix)
        if companion.exists():
            tighten(companion)
    return file


def tighten(path: str | Path) -> bool:
    """Remove group and other permissions from a file of the current user.

    Returns:
        True when the mode was changed; False when it was private already, the file belongs to
        someone else, is not a regular file, or the system has no POSIX permissions.
    """
    if not _POSIX:
        return False
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or not st.st_mode & 0o077:
        return False
    os.chmod(path, stat.S_IMODE(st.st_mode) & 0o700)
    return True
