"""How much of the sample corpus an induction head could copy, and whether a trained model copies it.

1. **In-context repetition** per domain and context length: the corpus's documents of each domain packed
   into windows as the trainer packs them (EOS between documents), and in each window the share of
   positions a perfect two-token induction rule predicts (the token that followed the latest earlier
   occurrence of the two tokens before it). That is the most an induction head could gain there.
2. **Copying in trained models** (``--models``): held-out text segments of 100 tokens repeated twice, and
   random-token segments the same way; the loss on the first and on the second copy, and every head's
   prefix-matching attention (query in the second copy, key one after the same token in the first).
   A model that copies in context has a lower loss on the second copy.

    python benchmarks/natural_formation/repetition.py --models NAME=CHECKPOINT ... \
        --out benchmarks/natural_formation/repetition.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CONTEXTS = (128, 256, 512, 1024)
WINDOWS = 64  # windows per domain and context
SEGMENT = 100  # tokens per repeated segment
SEGMENTS = 32


def induction_predictable(window: list[int]) -> float:
    """Share of positions (from the third on) that the latest earlier match of the two tokens before predicts."""
    latest, hits = {}, 0
    for i in range(2, len(window)):
        key = (window[i - 2], window[i - 1])
        if key in latest:
            hits += window[latest[key]] == window[i]
        latest[key] = i
    return hits / (len(window) - 2)


def domain_streams(tokenizer, split: str) -> dict[str, np.ndarray]:
    """Each domain's documents of ``split``, shuffled with a fixed seed and packed with EOS between them."""
    import pyarrow.parquet as pq

    table = pq.read_table(ROOT / "examples" / "data" / f"{split}.parquet").to_pandas()
    streams = {}
    for domain, group in table.groupby("domain"):
        texts = group.text.sample(frac=1, random_state=0)
        streams[domain] = np.array(
            [t for text in texts for t in tokenizer(text)["input_ids"] + [tokenizer.eos_token_id]]
        )
    return streams


def repetition(streams: dict[str, np.ndarray]) -> dict:
    """Mean induction-predictable share per domain and context, over ``WINDOWS`` random windows."""
    rng = np.random.default_rng(0)
    result = {}
    for domain, stream in streams.items():
        result[domain] = {}
        for ctx in CONTEXTS:
            windows = stream[: len(stream) // ctx * ctx].reshape(-1, ctx)
            chosen = windows[rng.choice(len(windows), min(WINDOWS, len(windows)), replace=False)]
            result[domain][ctx] = round(float(np.mean([induction_predictable(w.tolist()) for w in chosen])), 4)
    return result


def copying(checkpoint: Path, segments: np.ndarray, vocab: int) -> dict:
    """Second-copy vs first-copy loss, and each head's prefix-matching attention, on repeated segments."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(checkpoint, attn_implementation="eager").eval()  # eager: attentions
    generator = torch.Generator().manual_seed(0)
    kinds = {
        "natural": torch.tensor(segments),
        "random": torch.randint(3, vocab, (len(segments), SEGMENT), generator=generator),
    }
    out = {}
    for kind, half in kinds.items():
        tokens = torch.cat([half, half], dim=1)
        with torch.no_grad():
            result = model(tokens, output_attentions=True)
        logp = torch.log_softmax(result.logits[:, :-1].float(), -1).gather(-1, tokens[:, 1:, None])[..., 0]
        queries = torch.arange(SEGMENT + 1, 2 * SEGMENT)
        prefix = [a[:, :, queries, queries - SEGMENT + 1].mean((0, 2)).tolist() for a in result.attentions]
        out[kind] = {
            "loss_first": round(float(-logp[:, 10 : SEGMENT - 1].mean()), 3),
            "loss_second": round(float(-logp[:, SEGMENT + 10 :].mean()), 3),
            "best_prefix_matching": round(max(max(layer) for layer in prefix), 4),
            "prefix_matching": [[round(v, 4) for v in layer] for layer in prefix],
        }
    return out


def heldout_segments(tokenizer) -> np.ndarray:
    """The first ``SEGMENT`` tokens of the first ``SEGMENTS`` held-out documents (shuffled) that are longer."""
    import pyarrow.parquet as pq

    table = pq.read_table(ROOT / "examples" / "data" / "heldout.parquet").to_pandas().sample(frac=1, random_state=0)
    ids = (tokenizer(text)["input_ids"] for text in table.text)
    return np.array([seq[:SEGMENT] for seq in ids if len(seq) > SEGMENT + 10][:SEGMENTS])


def main() -> None:
    from transformers import AutoTokenizer

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="*", default=[], metavar="NAME=CHECKPOINT")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    tokenizer = AutoTokenizer.from_pretrained(str(ROOT / "examples" / "tokenizer"))
    result = {
        "windows_per_cell": WINDOWS,
        "segment_tokens": SEGMENT,
        "segments": SEGMENTS,
        "induction_predictable": repetition(domain_streams(tokenizer, "train")),
    }
    segments = heldout_segments(tokenizer)
    result["copying"] = {
        name: copying(Path(path), segments, len(tokenizer)) for name, path in (m.split("=", 1) for m in args.models)
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
