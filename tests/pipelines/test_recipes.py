"""The JSONL writers' adapter writes what datatrove's default adapter writes."""

import orjson
import pytest
from datatrove.data import Document, Media
from datatrove.pipeline.writers import JsonlWriter

from mda_curate.pipelines.recipes import jsonl_record

DOCUMENTS = [
    Document(text="plain", id="a"),
    Document(text="with metadata", id="b", metadata={"catalyst_score": 0.25, "nested": {"k": [1, (2, 3)]}, "s": "x"}),
    Document(text="", id="", metadata={}),
    Document(text="media", id="m", media=[Media(id="img", type=0, url="file://x", media_bytes=b"\x00")]),
]


@pytest.mark.parametrize("document", DOCUMENTS, ids=["plain", "metadata", "empty", "media"])
def test_jsonl_record_writes_what_the_default_adapter_writes(tmp_path, document):
    fast = JsonlWriter(str(tmp_path / "fast"), adapter=jsonl_record)
    default = JsonlWriter(str(tmp_path / "default"))
    assert orjson.dumps(fast.adapter(document)) == orjson.dumps(default.adapter(document))
