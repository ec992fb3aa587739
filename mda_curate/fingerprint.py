"""Content fingerprints: what resume state is keyed on, so that a rerun never returns results of other inputs.

A file's identity is its size and the sha256 of its content. Files larger than :data:`FULL_HASH_BYTES`
(where hashing everything on every rerun would cost minutes) get a hash of :data:`SAMPLED_CHUNKS` evenly
spaced chunks plus their modification time, since a sampled hash alone could miss an edit between the
chunks. A folder's identity is that of its files (by relative path). Local paths and fsspec URLs both work.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

FULL_HASH_BYTES = 64 << 20
SAMPLED_CHUNKS = 16
CHUNK_BYTES = 1 << 20


def file_identity(url: str) -> dict:
    """``{"size", "sha256"}``, or ``{"size", "mtime", "sampled_sha256"}`` for a file over FULL_HASH_BYTES."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(str(url))
    size = int(fs.size(path))
    digest = hashlib.sha256()
    with fs.open(path, "rb") as handle:
        if size <= FULL_HASH_BYTES:
            while chunk := handle.read(CHUNK_BYTES):
                digest.update(chunk)
            return {"size": size, "sha256": digest.hexdigest()}
        for k in range(SAMPLED_CHUNKS):
            handle.seek((size - CHUNK_BYTES) * k // (SAMPLED_CHUNKS - 1))
            digest.update(handle.read(CHUNK_BYTES))
    return {"size": size, "mtime": str(fs.modified(path)), "sampled_sha256": digest.hexdigest()}


def fingerprint(paths: Iterable[str], skip: Iterable[str] = ()) -> dict[str, dict]:
    """The identity of every file among ``paths``, folders expanded (keys: the path, or folder/relative path);
    ``skip`` names files and subfolders of folders to leave out (e.g. checkpoints that grow while a run goes on)."""
    import fsspec

    skip = tuple(skip)
    identities = {}
    for url in map(str, paths):
        fs, path = fsspec.core.url_to_fs(url)
        if not fs.isdir(path):
            identities[url] = file_identity(url)
            continue
        root = path.rstrip("/")
        for found in sorted(fs.find(root)):
            relative = found[len(root) + 1 :]
            if not relative.startswith(skip):
                identities[f"{url.rstrip('/')}/{relative}"] = file_identity(fs.unstrip_protocol(found))
    return identities


def first_difference(saved, current, prefix: str = "") -> str | None:
    """Where two JSON values first differ, as a key path (``a.b``), or ``None`` when they are equal."""
    if isinstance(saved, dict) and isinstance(current, dict):
        for key in sorted(set(saved) | set(current)):
            found = first_difference(saved.get(key), current.get(key), f"{prefix}.{key}" if prefix else key)
            if found:
                return found
        return None
    return None if saved == current else prefix or "(the whole record)"
