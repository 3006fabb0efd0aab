"""What git tracks, read from the index file itself: git's rule that a tracked path is
part of the work tree, ignored or not.

git keeps tracking a file once it was added, whatever ``.gitignore`` says (pallets/flask
commits ``.flaskenv`` and lists it in its own ``.gitignore``). The walks keep such a path:
:class:`TrackedIndex` tells them which ignored paths git tracks, for the repository that
holds the walk's root and every repository nested in it (submodules, clones).

The index is parsed here — versions 2 to 4, SHA-1 and SHA-256 repositories, the split
index's shared file, the sparse index's folder entries — rather than asked of
``git ls-files``: git runs what a repository's config names (``core.fsmonitor`` runs
even for ``ls-files``), and a scan must run nothing of the repository's. An index is
parsed once per version of its file (~4 ms for 10,000 entries); an unreadable or
malformed one, or one not owned by this user, tracks nothing.

Example:
    >>> tracked = TrackedIndex("/repo")        # /repo/.git/index lists ".env", "tests/app/.env"
    >>> tracked.has_file(".env"), tracked.holds("tests"), tracked.has_file("cache.pyc")
    (True, True, False)
"""

from __future__ import annotations

import os
import re
import stat
import struct
from bisect import bisect_left
from collections.abc import Iterable
from typing import NamedTuple

GIT_DIR = ".git"
MAX_INDEX_BYTES = 256 << 20  # a larger index (some 2.5 million entries) is not read: nothing tracked
_U32 = struct.Struct(">I")
_OBJECT_FORMAT = re.compile(rb"(?im)^\s*objectformat\s*=\s*sha256\s*$")
_CACHE: dict[tuple[object, ...], TrackedPaths] = {}  # (index file, its stat key, strip) -> paths


class TrackedPaths:
    """The paths one index tracks, relative to a walk's root (folders end in ``/``), sorted."""

    __slots__ = ("_sorted",)

    def __init__(self, paths: Iterable[str]):
        self._sorted = sorted(paths)  # git's order already: linear

    def __contains__(self, rel: object) -> bool:
        at = bisect_left(self._sorted, rel)
        return at < len(self._sorted) and self._sorted[at] == rel

    def holds(self, folder: str) -> bool:
        """Whether something tracked lies below ``folder`` (relative, no trailing ``/``)."""
        prefix = folder + "/"
        at = bisect_left(self._sorted, prefix)
        return at < len(self._sorted) and self._sorted[at].startswith(prefix)

    def moved(self, other: TrackedPaths) -> set[str]:
        """The paths one of the two holds and the other not (none, cheaply, when equal)."""
        if self._sorted == other._sorted:
            return set()
        return set(self._sorted).symmetric_difference(other._sorted)


class TrackedIndex:
    """The tracked paths below one walk root, index by index, kept current scan after scan.

    The repository around the root is looked for once (its ``.git`` folder or file, in
    the root or a folder above it); one whose ``.git`` sits in a folder of the walk is
    registered when the walk lists that folder (:meth:`seen_folder`), so a ``git init``
    during the session counts. :meth:`refresh` re-reads an index whose file changed
    (``git add`` during the session); :meth:`drain` tells the walker which folders'
    listings that made stale.
    """

    def __init__(self, root: str, start: str = ""):
        self.root = root
        # walk prefix ("", "sub/") -> the repository there, and its paths once asked for
        self._repos: dict[str, tuple[_Repo, TrackedPaths | None]] = {}
        self._folders: set[str] = set()  # folders ("", "a/b/") to list again: a path in them moved
        self._trees: set[str] = set()  # folders to list again with everything below them
        self.seen_folder(root, "", True)
        folder, prefix = root, ""
        for part in start.split("/")[:-1] if start else ():  # repositories above a walk's start
            folder, prefix = os.path.join(folder, part), prefix + part + "/"
            self.seen_folder(folder, prefix, os.path.lexists(os.path.join(folder, GIT_DIR)))

    def has_file(self, rel: str) -> bool:
        """Whether git tracks the file or symlink ``rel``."""
        for prefix in tuple(self._repos):
            if rel.startswith(prefix) and rel[len(prefix):] in self._paths(prefix):
                return True
        return False

    def holds(self, rel: str) -> bool:
        """Whether git tracks something below the folder ``rel``."""
        folder = rel + "/"
        for prefix in tuple(self._repos):
            inside = folder.startswith(prefix) and folder != prefix
            if inside and self._paths(prefix).holds(rel[len(prefix):]):
                return True
        return False

    def seen_folder(self, path: str, prefix: str, has_git: bool) -> None:
        """A walk listed the folder at ``path`` (``prefix``: its relative path and ``/``,
        ``""`` for the root): register the repository whose ``.git`` it holds, or forget
        one it no longer holds."""
        known = self._repos.get(prefix)
        if prefix:
            repo = _repo_at(path) if has_git else None
        else:
            repo = _enclosing_repo(self.root)  # the root's own .git, else one above it
        if repo is None:
            if known is not None:
                del self._repos[prefix]
                self._trees.add(prefix)
            return
        if known is None or known[0] != repo:
            self._reload(prefix, repo, known)

    def refresh(self) -> None:
        """Read again every index whose file changed since it was read (``git add``)."""
        for prefix, (repo, paths) in list(self._repos.items()):
            fresh = repo._replace(key=_file_key(repo.index))
            if fresh.key != repo.key:
                self._reload(prefix, fresh, (repo, paths))

    def drain(self) -> tuple[set[str], set[str]]:
        """What moved since the last call: the folders (``""``, ``"a/b/"``) holding a path
        whose tracked status changed, and the folders whose whole tree may have (a
        repository found or gone there)."""
        moved = (self._folders, self._trees)
        self._folders, self._trees = set(), set()
        return moved

    def _reload(self, prefix: str, repo: _Repo, known: tuple[_Repo, TrackedPaths | None] | None) -> None:
        if known is None or known[0].index != repo.index or known[0].strip != repo.strip:
            self._repos[prefix] = (repo, None)
            self._trees.add(prefix)
            return
        if known[1] is None:  # never asked for: no listing depends on it, nothing to compare
            self._repos[prefix] = (repo, None)
            return
        for path in known[1].moved(self._load(prefix, repo)):
            parent = path.rstrip("/").rpartition("/")[0]
            self._folders.add(f"{prefix}{parent}/" if parent else prefix)

    def _paths(self, prefix: str) -> TrackedPaths:
        """The repository's paths, read when first asked for: a walk that meets no ignored
        path never reads an index."""
        repo, paths = self._repos[prefix]
        return paths if paths is not None else self._load(prefix, repo)

    def _load(self, prefix: str, repo: _Repo) -> TrackedPaths:
        paths = _tracked_paths(repo)
        self._repos[prefix] = (repo, paths)
        return paths


class _Repo(NamedTuple):
    """A repository as a walk sees it."""

    top: str  # the folder holding its .git
    index: str  # its index file
    hash_size: int  # 20 (SHA-1) or 32 (SHA-256)
    strip: str  # the walk root's path inside it and "/" ("" when the root is its top)
    key: tuple[int, ...] | None  # the index file's stat when read (None: no index)


def _enclosing_repo(root: str) -> _Repo | None:
    """The repository whose work tree holds ``root``: ``.git`` in it or the nearest folder above."""
    folder = root
    while True:
        if os.path.lexists(os.path.join(folder, GIT_DIR)):
            repo = _repo_at(folder)
            if repo is None:
                return None
            strip = os.path.relpath(root, folder).replace(os.sep, "/")
            return repo._replace(strip="" if strip == "." else strip + "/")
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def _repo_at(top: str) -> _Repo | None:
    """The repository whose ``.git`` (a folder, or a file naming one: a worktree, a
    submodule) is in ``top``; None when there is none this user owns."""
    dot_git = os.path.join(top, GIT_DIR)
    try:
        st = os.lstat(dot_git)
    except OSError:
        return None
    if st.st_uid != os.geteuid():  # like git's safe.directory: another user's repository decides nothing
        return None
    if stat.S_ISDIR(st.st_mode):
        git_dir = dot_git
    elif stat.S_ISREG(st.st_mode):
        text = read_regular(dot_git, 4096)
        if text is None or not text.startswith(b"gitdir:"):
            return None
        git_dir = os.path.join(top, os.fsdecode(text[len(b"gitdir:"):].strip()))
    else:
        return None
    common = git_dir
    pointer = read_regular(os.path.join(git_dir, "commondir"), 4096)
    if pointer is not None:
        common = os.path.join(git_dir, os.fsdecode(pointer.strip()))
    config = read_regular(os.path.join(common, "config"), 1 << 20) or b""
    hash_size = 32 if _OBJECT_FORMAT.search(config) else 20
    index = os.path.join(git_dir, "index")
    return _Repo(top, index, hash_size, "", _file_key(index))


def _file_key(path: str) -> tuple[int, ...] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


def _tracked_paths(repo: _Repo) -> TrackedPaths:
    """The paths of ``repo``'s index below the walk root (cached per version of the index
    file: the file tools walk afresh at every call); none when unreadable."""
    if repo.key is None:
        return TrackedPaths(())
    cache_key = (repo.index, *repo.key, repo.strip)
    if cache_key not in _CACHE:
        if len(_CACHE) > 64:
            _CACHE.clear()
        found, strip = _parse_file(repo.index, repo.hash_size) or (), repo.strip
        if strip:
            found = tuple(p[len(strip):] for p in found if p.startswith(strip) and p != strip)
        _CACHE[cache_key] = TrackedPaths(found)
    return _CACHE[cache_key]


def _parse_file(index: str, hash_size: int) -> tuple[str, ...] | None:
    data = read_regular(index, MAX_INDEX_BYTES)
    if data is None:
        return None
    try:
        paths, shared, deleted = parse_index(data, hash_size)
        if shared is not None:
            shared_path = os.path.join(os.path.dirname(index), f"sharedindex.{shared}")
            base = read_regular(shared_path, MAX_INDEX_BYTES)
            if base is None:
                return None
            base_paths = parse_index(base, hash_size)[0]
            paths = [p for i, p in enumerate(base_paths) if i not in deleted] + [p for p in paths if p]
    except (ValueError, IndexError, struct.error):
        return None  # malformed: nothing is taken as tracked, the ignore rules alone decide
    kept = [p for p in paths if p]
    return tuple(b"\0".join(kept).decode("utf-8", "surrogateescape").split("\0")) if kept else ()


def parse_index(data: bytes, hash_size: int = 20) -> tuple[list[bytes], str | None, set[int]]:
    """The paths of an index file's entries (a folder of a sparse index and a submodule
    end in ``/``), and for a split index the shared index's id and its deleted entries.

    Raises:
        ValueError: not an index file, or one this parser does not know.
    """
    if data[:4] != b"DIRC":
        raise ValueError("not a git index")
    version, count = struct.unpack_from(">II", data, 4)
    if version not in (2, 3, 4):
        raise ValueError(f"index version {version}")
    paths: list[bytes] = []
    append, find = paths.append, data.index
    pos, previous = 12, b""
    fixed = 40 + hash_size  # stat fields, then the object id, then the flags
    for _ in range(count):
        # The hot loop, once per tracked file: bytes read by index, not struct-unpacked.
        high = data[pos + fixed]  # flags: assume-valid, extended, stage (2 bits), name length (12)
        start = pos + fixed + (4 if high & 0x40 and version >= 3 else 2)
        if version == 4:
            strip, start = _varint(data, start)
            end = find(b"\0", start)
            if strip > len(previous):
                raise ValueError("bad path compression")
            path = previous[: len(previous) - strip] + data[start:end]
            next_pos, previous = end + 1, path
        else:
            length = (high & 0x0F) << 8 | data[pos + fixed + 1]
            end = start + length if length < 0xFFF else find(b"\0", start)
            if data[end] != 0:
                raise ValueError("bad entry")
            path = data[start:end]
            next_pos = pos + ((end - pos + 8) & ~7)  # NUL-padded to a multiple of 8 bytes
        if data[pos + 26] & 0xF0 in (0xE0, 0x40) and path:  # a submodule, a sparse folder
            path = path.rstrip(b"/") + b"/"
        append(path)
        pos = next_pos
    shared, deleted = _link_extension(data, pos, hash_size)
    return paths, shared, deleted


def _link_extension(data: bytes, pos: int, hash_size: int) -> tuple[str | None, set[int]]:
    """The split index's ``link`` extension: the shared index's id and the entries it deletes."""
    end = len(data) - hash_size
    while pos + 8 <= end:
        signature, (size,) = data[pos : pos + 4], _U32.unpack_from(data, pos + 4)
        body = pos + 8
        if signature == b"link":
            shared = data[body : body + hash_size].hex()
            if size <= hash_size or set(shared) == {"0"}:
                return (None if set(shared) == {"0"} else shared), set()
            return shared, _ewah_bits(data, body + hash_size)
        pos = body + size
    return None, set()


def _ewah_bits(data: bytes, pos: int) -> set[int]:
    """The positions set in an EWAH bitmap (git's ``ewah/``): run-length words, each with
    a running bit, a 32-bit run length and a 31-bit count of literal words after it."""
    _bits, words = struct.unpack_from(">II", data, pos)
    pos += 8
    found: set[int] = set()
    at = index = 0
    while index < words:
        (word,) = struct.unpack_from(">Q", data, pos + 8 * index)
        index += 1
        run, literals = (word >> 1) & 0xFFFFFFFF, word >> 33
        if word & 1:
            found.update(range(at, at + 64 * run))
        at += 64 * run
        for _ in range(literals):
            (literal,) = struct.unpack_from(">Q", data, pos + 8 * index)
            index += 1
            while literal:
                low = literal & -literal
                found.add(at + low.bit_length() - 1)
                literal ^= low
            at += 64
    return found


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """git's offset varint (``varint.c``), as index version 4 writes its path prefixes."""
    byte = data[pos]
    pos += 1
    value = byte & 127
    while byte & 128:
        byte = data[pos]
        pos += 1
        value = ((value + 1) << 7) | (byte & 127)
    return value, pos


def read_regular(path: str, limit: int) -> bytes | None:
    """A regular file's bytes, at most ``limit`` and one more (so a caller tells a file over
    the limit); None for a folder, a FIFO or a device (a FIFO would block the open, a link
    to ``/dev/zero`` never ends), a file whose size passes ``limit``, or one it cannot read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        with open(fd, "rb", closefd=False) as handle:
            return handle.read(limit + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
