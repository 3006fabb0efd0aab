"""A content-addressed, compressed blob store inside the durable file."""

from __future__ import annotations

import hashlib
import zlib

from agentcli.store.db import Db

BLOBS_TABLE_SQL = """
CREATE TABLE blobs (
    hash TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    compression TEXT NOT NULL,
    data BLOB NOT NULL
)
"""


def content_hash(data: bytes) -> str:
    """The address of ``data``: its SHA-256 in hex."""
    return hashlib.sha256(data).hexdigest()


class BlobStore:
    """Store bytes once by hash; zlib-compress when that saves space.

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
        packed = zlib.compress(data, 6) if len(data) > 64 else data
        compression = "zlib" if len(packed) < len(data) else "none"
        self._db.execute(
            "INSERT OR IGNORE INTO blobs (hash, size, compression, data) VALUES (?, ?, ?, ?)",
            [digest, len(data), compression, packed if compression == "zlib" else data],
        )
        return digest

    def exists(self, digest: str) -> bool:
        """True when a blob with this hash is stored."""
        row = self._db.execute("SELECT 1 FROM blobs WHERE hash = ?", [digest]).fetchone()
        return row is not None

    def get(self, digest: str) -> bytes:
        """The bytes stored under ``digest``; ``KeyError`` when absent."""
        row = self._db.execute(
            "SELECT compression, data FROM blobs WHERE hash = ?", [digest]
        ).fetchone()
        if row is None:
            raise KeyError(digest)
        compression, data = row
        return zlib.decompress(data) if compression == "zlib" else bytes(data)
