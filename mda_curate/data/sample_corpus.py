"""Build the shipped multi-domain sample corpus from pinned Debian packages, byte for byte reproducibly.

The manifest (``examples/corpus_sources.toml``) lists one entry per package: name, exact version,
architecture, licence, the sha256 of its ``.deb`` and extraction rules (path globs inside the package
mapped to a domain, with optional caps). A ``.deb`` is an ``ar`` archive holding ``data.tar.{xz,zst,gz}``;
both are read here in pure Python, so the build needs no ``dpkg``.

Every step is deterministic: rules apply in manifest order to member paths in sorted order, files
are split into documents at blank lines (then lines) into chunks of at most ``max_chars``, each
document gets the id ``<package>/<path>#<chunk>``, the held-out split is chosen by a hash of the id,
and the parquet files are written with a fixed schema, compression and row-group size.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import lzma
import math
import re
import tarfile
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from mda_curate.errors import UserError

COLUMNS = ("id", "text", "domain", "source", "path")
DOMAINS = ("prose", "code", "latex", "markup", "records")
SPLITS = ("train", "heldout")
AR_MAGIC = b"!<arch>\n"
AR_HEADER_SIZE = 60


@dataclass(frozen=True)
class Rule:
    """Member paths matching ``glob`` (and no ``exclude`` glob) become documents of ``domain``."""

    glob: str
    domain: str
    exclude: tuple[str, ...] = ()
    gunzip: bool = False
    max_files: int | None = None
    max_bytes: int | None = None


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    arch: str
    licence: str
    sha256: str
    rules: tuple[Rule, ...]

    @property
    def deb_name(self) -> str:
        """The file name ``apt-get download`` gives the package (an epoch's ``:`` becomes ``%3a``)."""
        return f"{self.name}_{self.version.replace(':', '%3a')}_{self.arch}.deb"

    @property
    def apt_spec(self) -> str:
        arch = "" if self.arch == "all" else f":{self.arch}"
        return f"{self.name}{arch}={self.version}"


@dataclass(frozen=True)
class Manifest:
    packages: tuple[Package, ...]
    max_chars: int = 8000
    min_chars: int = 200
    heldout_percent: float = 5.0
    row_group_size: int = 1024
    compression_level: int = 9


@dataclass(frozen=True)
class Doc:
    id: str
    text: str
    domain: str
    source: str
    path: str


@dataclass
class PackageReport:
    """What one package contributed: files, documents and text bytes per domain; files skipped by reason
    and files cut short by a rule's ``max_bytes``."""

    package: Package
    files: Counter = field(default_factory=Counter)
    docs: Counter = field(default_factory=Counter)
    bytes: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    cut_files: int = 0


@dataclass
class BuildResult:
    reports: list[PackageReport]
    outputs: dict[str, Path]
    split_docs: Counter
    content_sha256: str


# ---------------------------------------------------------------- manifest


def load_manifest(path: str | Path) -> Manifest:
    """Parse and validate the TOML manifest; any problem is a UserError naming the file."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: no such manifest") from None
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{path}: invalid TOML ({err})") from None
    try:
        packages = tuple(_parse_package(entry) for entry in raw["package"])
        manifest = Manifest(packages=packages, **raw.get("build", {}))
    except (KeyError, TypeError, ValueError) as err:
        raise UserError(f"{path}: invalid manifest ({type(err).__name__}: {err})") from None
    return manifest


def _parse_package(entry: dict) -> Package:
    rules = tuple(_parse_rule(rule) for rule in entry["rule"])
    fields = {key: str(entry[key]) for key in ("name", "version", "arch", "licence", "sha256")}
    return Package(rules=rules, **fields)


def _parse_rule(entry: dict) -> Rule:
    rule = Rule(**{**entry, "exclude": tuple(entry.get("exclude", ()))})
    if rule.domain not in DOMAINS:
        raise ValueError(f"domain {rule.domain!r} is not one of {', '.join(DOMAINS)}")
    return rule


# ---------------------------------------------------------------- reading .deb files


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified_deb(debs_dir: Path, package: Package) -> Path:
    """The package's .deb in ``debs_dir``, checked against the manifest's sha256."""
    path = debs_dir / package.deb_name
    if not path.is_file():
        raise UserError(f"{path}: missing .deb for {package.apt_spec} (run with --download or apt-get download)")
    actual = sha256_file(path)
    if actual != package.sha256:
        raise UserError(f"{path}: sha256 {actual} does not match the manifest's {package.sha256}")
    return path


def ar_members(data: bytes, path: Path) -> Iterator[tuple[str, bytes]]:
    """Yield ``(name, content)`` for each member of an ``ar`` archive (the container of a .deb)."""
    if not data.startswith(AR_MAGIC):
        raise UserError(f"{path}: not an ar archive (.deb)")
    offset = len(AR_MAGIC)
    while offset + AR_HEADER_SIZE <= len(data):
        header = data[offset : offset + AR_HEADER_SIZE]
        name = header[:16].decode("ascii").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        start = offset + AR_HEADER_SIZE
        yield name, data[start : start + size]
        offset = start + size + (size % 2)


def data_tar(path: Path) -> tarfile.TarFile:
    """Open the ``data.tar.*`` member of a .deb as a streaming tar archive."""
    for name, content in ar_members(path.read_bytes(), path):
        if name.startswith("data.tar"):
            return tarfile.open(fileobj=_decompressed(name, content, path), mode="r|")
    raise UserError(f"{path}: no data.tar member in the .deb")


def _decompressed(name: str, content: bytes, path: Path) -> io.IOBase:
    raw = io.BytesIO(content)
    if name.endswith(".xz"):
        return lzma.open(raw)
    if name.endswith(".zst"):
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(raw)
    if name.endswith(".gz"):
        return gzip.open(raw)
    if name == "data.tar":
        return raw
    raise UserError(f"{path}: unsupported compression of {name}")


def matching_files(path: Path, rules: tuple[Rule, ...]) -> dict[str, bytes]:
    """Read the regular files of a .deb that some rule matches, keyed by path without ``./``."""
    files = {}
    with data_tar(path) as tar:
        for member in tar:
            name = member.name.removeprefix("./")
            if member.isfile() and any(rule_matches(rule, name) for rule in rules):
                files[name] = tar.extractfile(member).read()
    return files


# ---------------------------------------------------------------- rules and documents


@lru_cache(maxsize=None)
def glob_regex(pattern: str) -> re.Pattern:
    """Compile a path glob: ``**/`` spans directories, ``*`` and ``?`` stay within one path component."""
    parts = re.split(r"(\*\*/|\*|\?)", pattern)
    tokens = {"**/": "(?:.*/)?", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(tokens.get(part, re.escape(part)) for part in parts) + r"\Z")


def rule_matches(rule: Rule, path: str) -> bool:
    """Whether ``path`` matches the rule's glob and none of its excludes (matched on the file name or path)."""
    if not glob_regex(rule.glob).match(path):
        return False
    name = path.rsplit("/", 1)[-1]
    return not any(glob_regex(ex).match(name) or glob_regex(ex).match(path) for ex in rule.exclude)


def decode_member(content: bytes, gunzip: bool) -> tuple[str | None, str]:
    """Decode a member to text, or return ``(None, reason)`` for files that are not UTF-8 text."""
    if gunzip:
        try:
            content = gzip.decompress(content)
        except (OSError, EOFError):
            return None, "not gzip"
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not UTF-8"
    if "\x00" in text:
        return None, "binary (NUL bytes)"
    return text, ""


def paragraphs(text: str) -> Iterator[str]:
    """Split ``text`` losslessly into paragraphs, each ending with its trailing blank lines."""
    current: list[str] = []
    previous_blank = False
    for line in text.splitlines(keepends=True):
        blank = not line.strip()
        if previous_blank and not blank and current:
            yield "".join(current)
            current = []
        current.append(line)
        previous_blank = blank
    if current:
        yield "".join(current)


def _pieces(text: str, max_chars: int) -> Iterator[str]:
    """Paragraphs no longer than ``max_chars``; longer ones fall back to lines, then to hard cuts."""
    for paragraph in paragraphs(text):
        if len(paragraph) <= max_chars:
            yield paragraph
            continue
        for line in paragraph.splitlines(keepends=True):
            for start in range(0, len(line), max_chars):
                yield line[start : start + max_chars]


def chunk_text(text: str, max_chars: int) -> list[str]:
    """Pack paragraphs greedily into chunks of at most ``max_chars``; ``"".join(chunks) == text``."""
    chunks: list[str] = []
    current = ""
    for piece in _pieces(text, max_chars):
        if current and len(current) + len(piece) > max_chars:
            chunks.append(current)
            current = ""
        current += piece
    if current:
        chunks.append(current)
    return chunks


def is_heldout(doc_id: str, percent: float) -> bool:
    """Deterministic split: a document is held out when the blake2b hash of its id falls below ``percent``."""
    digest = hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 10_000 < round(percent * 100)


def package_documents(
    package: Package, files: dict[str, bytes], manifest: Manifest
) -> tuple[list[Doc], PackageReport]:
    """Apply the package's rules in order to its files in sorted path order; each path is used once."""
    report = PackageReport(package)
    claimed: set[str] = set()
    docs: list[Doc] = []
    for rule in package.rules:
        paths = [p for p in sorted(files) if p not in claimed and rule_matches(rule, p)]
        claimed.update(paths)
        docs += _rule_documents(package, rule, paths, files, manifest, report)
    return docs, report


def _rule_documents(package, rule, paths, files, manifest, report) -> list[Doc]:
    """Documents of one rule; ``max_files`` and ``max_bytes`` stop it, cutting the last file at a chunk."""
    docs: list[Doc] = []
    budget = rule.max_bytes if rule.max_bytes is not None else math.inf
    max_files = rule.max_files if rule.max_files is not None else math.inf
    used_files = 0
    for path, text in _usable_texts(paths, files, rule, manifest, report):
        chunks = chunk_text(text, manifest.max_chars)
        taken = _prefix_within(chunks, budget) if used_files < max_files else []
        if not taken:
            report.skipped["over the rule's cap"] += 1
            continue
        size = sum(len(chunk.encode("utf-8")) for chunk in taken)
        budget = budget - size if len(taken) == len(chunks) else 0
        report.cut_files += len(taken) < len(chunks)
        used_files += 1
        docs += [
            Doc(f"{package.name}/{path}#{i}", chunk, rule.domain, package.name, path) for i, chunk in enumerate(taken)
        ]
        report.files[rule.domain] += 1
        report.docs[rule.domain] += len(taken)
        report.bytes[rule.domain] += size
    return docs


def _prefix_within(chunks: list[str], budget: float) -> list[str]:
    """The longest prefix of ``chunks`` whose UTF-8 size fits in ``budget``."""
    taken: list[str] = []
    for chunk in chunks:
        budget -= len(chunk.encode("utf-8"))
        if budget < 0:
            break
        taken.append(chunk)
    return taken


def _usable_texts(paths, files, rule, manifest, report) -> Iterator[tuple[str, str]]:
    """``(path, text)`` of the files that decode as text of at least ``min_chars``; others are counted."""
    for path in paths:
        text, reason = decode_member(files[path], rule.gunzip)
        if text is not None and len(text.strip()) < manifest.min_chars:
            text, reason = None, f"shorter than {manifest.min_chars} chars"
        if text is None:
            report.skipped[reason] += 1
        else:
            yield path, text


# ---------------------------------------------------------------- the build


def download_debs(manifest: Manifest, debs_dir: Path) -> None:
    """Fetch the pinned packages into ``debs_dir`` with ``apt-get download`` (skipping those present)."""
    import subprocess

    debs_dir.mkdir(parents=True, exist_ok=True)
    wanted = [p.apt_spec for p in manifest.packages if not (debs_dir / p.deb_name).is_file()]
    if not wanted:
        return
    try:
        result = subprocess.run(["apt-get", "download", *wanted], cwd=debs_dir, capture_output=True, text=True)
    except FileNotFoundError:
        raise UserError("apt-get not found: download the packages listed in the manifest by hand") from None
    if result.returncode != 0:
        message = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else f"exit {result.returncode}"
        raise UserError(f"apt-get download failed: {message}")


def build_corpus(
    manifest_path: str | Path,
    debs_dir: str | Path,
    out_dir: str | Path,
    on_package: Callable[[Package], None] | None = None,
) -> BuildResult:
    """Build ``train.parquet``, ``heldout.parquet`` and ``SOURCES.md`` in ``out_dir`` from verified .debs."""
    manifest = load_manifest(manifest_path)
    debs = verify_debs(manifest, Path(debs_dir))
    return write_corpus(manifest, debs, Path(out_dir), on_package)


def verify_debs(manifest: Manifest, debs_dir: Path) -> list[Path]:
    """The manifest's .deb files in ``debs_dir``, each checked against its sha256."""
    return [verified_deb(debs_dir, package) for package in manifest.packages]


def write_corpus(
    manifest: Manifest, debs: list[Path], out_dir: Path, on_package: Callable[[Package], None] | None = None
) -> BuildResult:
    """Extract documents from the verified ``debs`` (in manifest order) and write the corpus files."""
    all_docs: list[Doc] = []
    reports: list[PackageReport] = []
    for package, deb in zip(manifest.packages, debs):
        docs, report = package_documents(package, matching_files(deb, package.rules), manifest)
        all_docs += docs
        reports.append(report)
        if on_package is not None:
            on_package(package)
    _check_unique_ids(all_docs)
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs, split_docs = {}, Counter()
    for split in SPLITS:
        rows = [doc for doc in all_docs if _split(doc, manifest) == split]
        outputs[split] = write_parquet(rows, out_dir / f"{split}.parquet", manifest)
        split_docs[split] = len(rows)
    result = BuildResult(reports, outputs, split_docs, content_sha256(all_docs))
    outputs["sources"] = write_sources(result, out_dir / "SOURCES.md")
    return result


def _split(doc: Doc, manifest: Manifest) -> str:
    return "heldout" if is_heldout(doc.id, manifest.heldout_percent) else "train"


def _check_unique_ids(docs: list[Doc]) -> None:
    duplicates = [doc_id for doc_id, n in Counter(doc.id for doc in docs).items() if n > 1]
    if duplicates:
        raise UserError(f"duplicate document ids (is a package listed twice?): {duplicates[:3]}")


def content_sha256(docs: list[Doc]) -> str:
    """A digest of every document's id, domain and text in order, independent of the parquet writer."""
    digest = hashlib.sha256()
    for doc in docs:
        for value in (doc.id, doc.domain, doc.text):
            encoded = value.encode("utf-8")
            digest.update(len(encoded).to_bytes(8, "big") + encoded)
    return digest.hexdigest()


def write_parquet(docs: list[Doc], path: Path, manifest: Manifest) -> Path:
    """Write documents with a fixed schema, zstd level and row-group size (deterministic bytes)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(name, pa.string()) for name in COLUMNS])
    table = pa.table({name: [getattr(doc, name) for doc in docs] for name in COLUMNS}, schema=schema)
    pq.write_table(
        table,
        path,
        compression="zstd",
        compression_level=manifest.compression_level,
        row_group_size=manifest.row_group_size,
        write_statistics=["id", "domain", "source", "path"],
    )
    return path


def write_sources(result: BuildResult, path: Path) -> Path:
    """Write the provenance and licence table of the build as Markdown."""
    import pyarrow

    lines = [
        "# Sample corpus: sources and licences",
        "",
        "Generated by `mda-curate corpus build` from `examples/corpus_sources.toml`; do not edit by hand.",
        "Every document is an unmodified chunk of a file shipped in the Debian package named in `source`;",
        "its id is `<package>/<path>#<chunk>`. Each package's full copyright file is",
        "`/usr/share/doc/<package>/copyright` inside its .deb.",
        "",
        "| package | version | licence | domain | files | docs | MB | notes |",
        "|---|---|---|---|---:|---:|---:|---|",
    ]
    for report in result.reports:
        lines += _source_rows(report)
    lines += ["", "## Totals", "", "| domain | files | docs | MB |", "|---|---:|---:|---:|"]
    for domain in DOMAINS:
        files = sum(r.files[domain] for r in result.reports)
        docs = sum(r.docs[domain] for r in result.reports)
        size = sum(r.bytes[domain] for r in result.reports)
        lines.append(f"| {domain} | {files} | {docs} | {size / 1e6:.2f} |")
    lines += ["", "## Outputs", ""]
    lines += [f"- `{split}.parquet`: {result.split_docs[split]} documents" for split in SPLITS]
    lines += [
        f"- content sha256 (ids, domains, texts in order): `{result.content_sha256}`",
        f"- written with pyarrow {pyarrow.__version__}; the parquet bytes are reproducible for a given "
        f"pyarrow version",
        "",
        "## Package files (sha256)",
        "",
    ]
    lines += [f"- `{r.package.deb_name}`: `{r.package.sha256}`" for r in result.reports]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _source_rows(report: PackageReport) -> list[str]:
    package = report.package
    notes = [f"{n} skipped: {reason}" for reason, n in sorted(report.skipped.items())]
    notes += [f"{report.cut_files} cut at the cap"] if report.cut_files else []
    notes = "; ".join(notes) or "-"
    domains = sorted(report.docs, key=DOMAINS.index)
    return [
        f"| {package.name} | {package.version} | {package.licence} | {domain} | {report.files[domain]} "
        f"| {report.docs[domain]} | {report.bytes[domain] / 1e6:.2f} | {notes if i == 0 else ''} |"
        for i, domain in enumerate(domains)
    ]
