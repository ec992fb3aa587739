import gzip
import hashlib
import io
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mda_curate.cli import main
from mda_curate.data.sample_corpus import (
    DOMAINS,
    build_corpus,
    chunk_text,
    data_tar,
    glob_regex,
    is_heldout,
)
from mda_curate.errors import UserError

SHIPPED = Path(__file__).resolve().parents[2] / "examples" / "data"
PROSE = "".join(f"Paragraph {i} says something about topic {i}.\nA second line of it.\n\n" for i in range(60))
CODE = "def f(x):\n    return x + 1\n" * 20
CHANGELOG = "pkg (1.0-1) unstable; urgency=medium\n\n  * Initial release.\n" * 8
FILES = {
    "usr/share/doc/pkg/guide.txt": PROSE.encode(),
    "usr/lib/pkg/tool.py": CODE.encode(),
    "usr/lib/pkg/latin1.py": ("# caf\xe9\n" * 50).encode("latin-1"),
    "usr/lib/pkg/tiny.py": b"x = 1\n",
    "usr/share/doc/pkg/changelog.Debian.gz": gzip.compress(CHANGELOG.encode(), mtime=0),
}


def _tar(files: dict[str, bytes], mode: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        for name, content in files.items():
            info = tarfile.TarInfo("./" + name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _ar_member(name: str, content: bytes) -> bytes:
    header = f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(content):<10}`\n".encode()
    return header + content + (b"\n" if len(content) % 2 else b"")


def make_deb(path: Path, files: dict[str, bytes], compression: str = "xz") -> str:
    """Write a minimal .deb (ar: debian-binary, control.tar.xz, data.tar.<compression>); return its sha256."""
    if compression == "zst":
        import zstandard

        data = zstandard.ZstdCompressor().compress(_tar(files, "w"))
    else:
        data = _tar(files, f"w:{compression}")
    content = b"!<arch>\n" + _ar_member("debian-binary", b"2.0\n")
    content += _ar_member("control.tar.xz", _tar({}, "w:xz")) + _ar_member(f"data.tar.{compression}", data)
    path.write_bytes(content)
    return hashlib.sha256(content).hexdigest()


def write_manifest(path: Path, sha256: str) -> Path:
    path.write_text(
        f"""
[build]
max_chars = 300
min_chars = 20
heldout_percent = 50.0
row_group_size = 8

[[package]]
name = "pkg"
version = "1:1.0-1"
arch = "all"
licence = "MIT"
sha256 = "{sha256}"
[[package.rule]]
glob = "usr/share/doc/pkg/*.txt"
domain = "prose"
[[package.rule]]
glob = "usr/lib/**/*.py"
domain = "code"
[[package.rule]]
glob = "usr/share/doc/*/changelog*.gz"
domain = "records"
gunzip = true
max_bytes = 300
"""
    )
    return path


@pytest.fixture
def debs(tmp_path):
    folder = tmp_path / "debs"
    folder.mkdir()
    sha = make_deb(folder / "pkg_1%3a1.0-1_all.deb", FILES)
    return folder, write_manifest(tmp_path / "sources.toml", sha)


def _rows(out: Path) -> list[dict]:
    return [row for split in ("train", "heldout") for row in pq.read_table(out / f"{split}.parquet").to_pylist()]


def test_build_domains_ids_chunks_and_splits(debs, tmp_path):
    folder, manifest = debs
    result = build_corpus(manifest, folder, tmp_path / "out")
    rows = _rows(tmp_path / "out")
    assert {row["domain"] for row in rows} == {"prose", "code", "records"}
    prose = sorted((r for r in rows if r["domain"] == "prose"), key=lambda r: int(r["id"].split("#")[1]))
    assert "".join(r["text"] for r in prose) == PROSE
    assert all(len(r["text"]) <= 300 for r in rows)
    assert prose[0]["id"] == "pkg/usr/share/doc/pkg/guide.txt#0" and prose[0]["source"] == "pkg"
    train = pq.read_table(tmp_path / "out" / "train.parquet").column("id").to_pylist()
    heldout = pq.read_table(tmp_path / "out" / "heldout.parquet").column("id").to_pylist()
    assert train and heldout
    assert all(is_heldout(i, 50.0) for i in heldout) and not any(is_heldout(i, 50.0) for i in train)
    report = result.reports[0]
    assert report.skipped == {"not UTF-8": 1, "shorter than 20 chars": 1}
    assert 0 < report.bytes["records"] <= 300 and report.cut_files == 1
    assert "| pkg | 1:1.0-1 | MIT | prose |" in (tmp_path / "out" / "SOURCES.md").read_text()


def test_two_builds_are_byte_identical(debs, tmp_path):
    folder, manifest = debs
    build_corpus(manifest, folder, tmp_path / "a")
    build_corpus(manifest, folder, tmp_path / "b")
    for name in ("train.parquet", "heldout.parquet", "SOURCES.md"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_sha256_mismatch_names_the_file(debs, tmp_path):
    folder, manifest = debs
    write_manifest(manifest, "0" * 64)
    with pytest.raises(UserError, match=r"pkg_1%3a1\.0-1_all\.deb: sha256 .* does not match"):
        build_corpus(manifest, folder, tmp_path / "out")


def test_cli_reports_a_missing_deb_in_one_line(debs, tmp_path, capsys):
    folder, manifest = debs
    (folder / "pkg_1%3a1.0-1_all.deb").unlink()
    assert main(["corpus", "build", "--debs", str(folder), "--manifest", str(manifest), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mda-curate corpus: error: ") and "missing .deb for pkg=1:1.0-1" in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("compression", ["xz", "gz", "zst"])
def test_data_tar_compressions(tmp_path, compression):
    make_deb(tmp_path / "p.deb", {"a/b.txt": b"hello"}, compression)
    with data_tar(tmp_path / "p.deb") as tar:
        assert [m.name for m in tar] == ["./a/b.txt"]


def test_glob_semantics():
    assert glob_regex("usr/**/*.py").match("usr/a.py") and glob_regex("usr/**/*.py").match("usr/a/b/c.py")
    assert not glob_regex("usr/*.py").match("usr/a/b.py")
    assert glob_regex("x/ch0[1-3].html").match("x/ch0[1-3].html") and not glob_regex("x/ch0[1-3].html").match(
        "x/ch01.html"
    )


def test_chunk_text_is_lossless_and_bounded():
    text = "a" * 25 + "\n\n" + "short\n" * 3 + "\n" + "b" * 7 + "\n"
    chunks = chunk_text(text, 10)
    assert "".join(chunks) == text and all(len(c) <= 10 for c in chunks)
    assert chunk_text("", 10) == []


def test_corpus_stats_cli(tmp_path, capsys):
    data = tmp_path / "docs.jsonl"
    data.write_text('{"text": "abc", "domain": "prose"}\n{"text": "de", "domain": "code"}\nnot json\n')
    assert main(["corpus", "stats", str(data), "--skip-bad"]) == 0
    err = capsys.readouterr().err
    assert "prose" in err and "total" in err and "1 malformed JSON" in err


def test_shipped_corpus_has_all_domains_splits_and_unique_ids():
    tables = {split: pq.read_table(SHIPPED / f"{split}.parquet") for split in ("train", "heldout")}
    ids = [i for table in tables.values() for i in table.column("id").to_pylist()]
    assert len(ids) == len(set(ids))
    for table in tables.values():
        assert table.column_names == ["id", "text", "domain", "source", "path"]
        assert set(table.column("domain").to_pylist()) == set(DOMAINS)
    assert (SHIPPED / "SOURCES.md").is_file()


def test_domain_stats_counts_tokens_per_domain():
    from mda_curate.data.corpus_stats import domain_stats, total
    from mda_curate.data.documents import Document

    def whitespace_tokenizer(texts, add_special_tokens):
        return {"input_ids": [text.split() for text in texts]}

    docs = [Document("a", "one two", "prose"), Document("b", "x = 1", "code"), Document("c", "é", "prose")]
    stats = domain_stats(docs, whitespace_tokenizer)
    assert (stats["prose"].docs, stats["prose"].chars, stats["prose"].bytes, stats["prose"].tokens) == (2, 8, 9, 3)
    assert stats["code"].tokens == 3 and total(stats).tokens == 6 and total(stats).docs == 3
    assert domain_stats(docs)["code"].tokens is None
