"""A content-addressed, compressed blob store inside the durable file: the one codec.

Every blob in a session file is written by :func:`pack_blob` and read by
:meth:`BlobStore.get`; every content address is :func:`content_hash`. A read never
trusts the row: inflation stops at the size the row records (a zlib bomb costs no more
than the size it claims), and the bytes must hash to the address they are stored under;
anything else is :class:`DamagedBlobError`, never returned.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass

from agentcli.errors import SessionFileError
from agentcli.store.db import Db

BLOBS_TABLE_SQL = """
CREATE TABLE blobs (
    hash TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    compression TEXT NOT NULL,
    data BLOB NOT NULL
)
"""

_INLINE_BYTES = 64  # below this compression never pays
_PROBE_BYTES = 16384  # a sample tells incompressible (binary, compressed) content early


def content_hash(data: bytes) -> str:
    """The address of ``data``: its SHA-256 in hex."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class PackedBlob:
    """A blob ready for the ``blobs`` table."""

    hash: str
    size: int
    compression: str  # "zlib" or "none"
    data: bytes


def pack_blob(data: bytes, digest: str | None = None) -> PackedBlob:
    """Compress ``data`` (zlib level 1, git's choice for loose objects) when that saves space.

    Safe to call from worker threads: zlib releases the GIL. Content that a 16 KB sample
    shows to be incompressible is stored raw without compressing the rest.

    Example:
        >>> pack_blob(b"a" * 1000).compression
        'zlib'
    """
    digest = digest or content_hash(data)
    if len(data) <= _INLINE_BYTES:
        return PackedBlob(digest, len(data), "none", data)
    if len(data) > 4 * _PROBE_BYTES:
        probe = data[:_PROBE_BYTES]
        if len(zlib.compress(probe, 1)) > 0.95 * len(probe):
            return PackedBlob(digest, len(data), "none", data)
    packed = zlib.compress(data, 1)
    if len(packed) < len(data):
        return PackedBlob(digest, len(data), "zlib", packed)
    return PackedBlob(digest, len(data), "none", data)


class DamagedBlobError(SessionFileError):
    """A stored blob whose bytes are not what its row says: another size, or another hash."""

    def __init__(self, digest: str, why: str):
        super().__init__(f"the stored content {digest[:12]} is damaged ({why}); the session file may be "
                         "corrupt, and that content is not used")
        self.digest = digest


def checked_blob(digest: str, size: object, compression: object, data: object) -> bytes:
    """A stored row's bytes, checked: inflated to at most the ``size`` it records (one
    byte more tells "longer"), exactly that long, and hashing to ``digest``.

    Raises:
        DamagedBlobError: anything else (a bad size, compression, zlib stream or hash).
    """
    if not isinstance(size, int) or size < 0 or not isinstance(data, bytes):
        raise DamagedBlobError(digest, "its row is not a blob's")
    if compression == "none":
        out = data
    elif compression == "zlib":
        inflater = zlib.decompressobj()
        try:
            out = inflater.decompress(data, size + 1)
        except zlib.error as err:
            raise DamagedBlobError(digest, f"not valid zlib data: {err}") from None
        if len(out) == size and not inflater.eof:
            raise DamagedBlobError(digest, f"it inflates to more than the {size} bytes recorded")
    else:
        raise DamagedBlobError(digest, f"unknown compression {str(compression)[:20]!r}")
    if len(out) != size:
        raise DamagedBlobError(digest, f"{'more' if len(out) > size else 'fewer'} bytes than the "
                               f"{size} recorded")
    if content_hash(out) != digest:
        raise DamagedBlobError(digest, "its bytes do not match its SHA-256")
    return out


class BlobStore:
    """Store bytes once by hash.

    Example:
        >>> h = store.put(b"hello")
        >>> store.get(h)
        b'hello'
    """

    def __init__(self, db: Db):
        self._db = db

    def put(self, data: bytes, digest: str | None = None) -> str:
        """Store ``data`` (once) and return its hash; joins any open transaction."""
        digest = digest or content_hash(data)
        if self.exists(digest):
            return digest
        blob = pack_blob(data, digest)
        self._db.execute(
            "INSERT OR IGNORE INTO blobs (hash, size, compression, data) VALUES (?, ?, ?, ?)",
            [blob.hash, blob.size, blob.compression, blob.data],
        )
        return digest

    def exists(self, digest: str) -> bool:
        """True when a blob with this hash is stored."""
        row = self._db.execute("SELECT 1 FROM blobs WHERE hash = ?", [digest]).fetchone()
        return row is not None

    def get(self, digest: str) -> bytes:
        """The bytes stored under ``digest``, checked against their size and hash.

        Raises:
            KeyError: no such blob.
            DamagedBlobError: the stored bytes are not what their row says.
        """
        row = self._db.execute(
            "SELECT size, compression, data FROM blobs WHERE hash = ?", [digest]
        ).fetchone()
        if row is None:
            raise KeyError(digest)
        return checked_blob(digest, *row)
