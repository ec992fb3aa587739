#!/usr/bin/env bash
# Rebuild the shipped sample corpus (examples/data/) from the Debian packages pinned in
# examples/corpus_sources.toml. Needs apt (Debian bookworm sources) for the download; the build
# itself is pure Python. Same .deb files (checked by sha256) + same pyarrow -> same bytes.
#
#   examples/build_sample_corpus.sh [CACHE_DIR]     (default CACHE_DIR: .cache/debs)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${1:-$repo/.cache/debs}"
python="${PYTHON:-$repo/.venv/bin/python}"

mkdir -p "$cache"
"$python" -m mda_curate.cli corpus build \
    --download \
    --debs "$cache" \
    --manifest "$repo/examples/corpus_sources.toml" \
    --out "$repo/examples/data"
sha256sum "$repo"/examples/data/*.parquet
