import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_library_package_is_listed_for_the_wheel():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "mda_curate").rglob("__init__.py")}
    assert on_disk <= listed, f"add to [tool.setuptools] packages: {sorted(on_disk - listed)}"


def test_shipped_artifacts_resolve():
    from mda_curate.resources import sample_corpus_dir, sample_tokenizer_dir

    assert (sample_corpus_dir() / "train.parquet").is_file()
    assert (sample_corpus_dir() / "heldout.parquet").is_file()
    assert (sample_tokenizer_dir() / "tokenizer.json").is_file()
