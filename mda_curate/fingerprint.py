"""Content fingerprints: what resume state is keyed on, so that a rerun never returns results of other inputs.

A file's identity is its size and the sha256 of its content. Files larger than :data:`FULL_HASH_BYTES`
(where hashing everything on every rerun would cost minutes) get a hash of :data:`SAMPLED_CHUNKS` evenly
spaced chunks plus their modification time, since a sampled hash alone could miss an edit between the
chunks. A folder's identity is that of its files. Local paths and fsspec URLs both work.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from mda_curate.errors import UserError

FULL_HASH_BYTES = 1 << 30  # about a second of hashing
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


def fingerprint(paths: Iterable[str]) -> dict[str, dict]:
    """The identity of every file among ``paths``, folders expanded, keyed by absolute path (or URL)."""
    import fsspec
    from fsspec.implementations.local import LocalFileSystem

    identities = {}
    for url in map(str, paths):
        fs, path = fsspec.core.url_to_fs(url)
        if not fs.exists(path):
            raise UserError(f"{url}: no such file or folder")
        for name in sorted(fs.find(path)) if fs.isdir(path) else [path]:
            full = name if isinstance(fs, LocalFileSystem) else fs.unstrip_protocol(name)
            identities[full] = file_identity(full)
    return identities


def content_change(saved: dict[str, dict[str, dict]], current: dict[str, dict[str, dict]]) -> str | None:
    """Where two content records (``{section: {path: identity}}``) first differ, comparing each section's files
    in order by identity alone, so that the same files read from another folder (a moved checkout) agree:
    ``section.<current path>.<field>``, or the section when it lists another number of files."""
    for section in sorted(set(saved) | set(current)):
        before, now = list(saved.get(section, {}).values()), list(current.get(section, {}).items())
        if len(before) != len(now):
            return section
        for identity, (path, current_identity) in zip(before, now):
            if found := first_difference(identity, current_identity, f"{section}.{path}"):
                return found
    return None


def first_difference(saved, current, prefix: str = "") -> str | None:
    """Where two JSON values first differ, as a key path (``a.b``), or ``None`` when they are equal."""
    if isinstance(saved, dict) and isinstance(current, dict):
        for key in sorted(set(saved) | set(current)):
            found = first_difference(saved.get(key), current.get(key), f"{prefix}.{key}" if prefix else key)
            if found:
                return found
        return None
    return None if saved == current else prefix or "(the whole record)"
