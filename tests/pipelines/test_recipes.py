"""The writers' adapters write what datatrove's default adapter writes, less (or with) the reader's location."""

from dataclasses import replace

import orjson
import pytest
from datatrove.data import Document, Media
from datatrove.pipeline.writers import JsonlWriter

from mda_curate.pipelines.reader import LOCATION_KEY
from mda_curate.pipelines.recipes import excluded_record, kept_record

DOCUMENTS = [
    Document(text="plain", id="a"),
    Document(text="with metadata", id="b", metadata={"catalyst_score": 0.25, "nested": {"k": [1, (2, 3)]}, "s": "x"}),
    Document(text="", id="", metadata={}),
    Document(text="media", id="m", media=[Media(id="img", type=0, url="file://x", media_bytes=b"\x00")]),
]


@pytest.mark.parametrize("document", DOCUMENTS, ids=["plain", "metadata", "empty", "media"])
def test_kept_record_writes_what_the_default_adapter_writes(tmp_path, document):
    fast = JsonlWriter(str(tmp_path / "fast"), adapter=kept_record)
    default = JsonlWriter(str(tmp_path / "default"))
    assert orjson.dumps(fast.adapter(document)) == orjson.dumps(default.adapter(document))
    located = replace(document, metadata={**document.metadata, LOCATION_KEY: {"file": "f.jsonl", "line": 7}})
    assert orjson.dumps(fast.adapter(located)) == orjson.dumps(default.adapter(document))


@pytest.mark.parametrize("document", DOCUMENTS, ids=["plain", "metadata", "empty", "media"])
def test_excluded_record_moves_the_location_into_the_metadata(tmp_path, document):
    writer = JsonlWriter(str(tmp_path / "excluded"), adapter=excluded_record)
    located = replace(document, metadata={**document.metadata, LOCATION_KEY: {"file": "f.jsonl", "line": 7}})
    assert writer.adapter(located)["metadata"] == {**document.metadata, "file": "f.jsonl", "line": 7}
