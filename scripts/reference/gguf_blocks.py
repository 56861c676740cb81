#!/usr/bin/env python3
"""Small committed fixture for the GGUF reader and every supported block format.

Writes, with the independent gguf-py writer, `Tests/Fixtures/gguf/blocks.gguf` (version 3,
alignment 64) holding metadata of every value type (nested array included) and, for each of
F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K Q5_K Q6_K, a 2-row tensor of random blocks (random
quant bytes, random finite binary16 scales), and `blocks.json` with the values that
`gguf.quants.dequantize` decodes from each (row-major float32, written as exact decimals).

Usage: python3 scripts/reference/gguf_blocks.py   (seeded; re-running reproduces the files)
"""
import json
import os

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T, quants

OUT = os.path.join(os.path.dirname(__file__), "../../Tests/Fixtures/gguf")
rng = np.random.default_rng(20240601)

# Byte offsets of binary16 scale fields inside one block (must be finite, not random bytes).
HALF_FIELDS = {T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
               T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208]}
ROWS = 2


def random_tensor(qtype):
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    row = 2 * block if block > 1 else 40
    if qtype == T.F32:
        return rng.standard_normal((ROWS, row)).astype(np.float32)
    if qtype == T.F16:
        return rng.standard_normal((ROWS, row)).astype(np.float16)
    if qtype == T.BF16:
        values = rng.standard_normal((ROWS, row)).astype(np.float32)
        return (values.view(np.uint32) >> 16).astype(np.uint16).view(np.uint8).reshape(ROWS, row * 2)
    blocks = rng.integers(0, 256, size=(ROWS * row // block, size), dtype=np.uint8)
    for offset in HALF_FIELDS[qtype]:
        scale = (rng.standard_normal(blocks.shape[0]) * 0.01).astype(np.float16)
        blocks[:, offset:offset + 2] = scale.view(np.uint8).reshape(-1, 2)
    return blocks.reshape(ROWS, -1)


def main():
    path = os.path.join(OUT, "blocks.gguf")
    writer = gguf.GGUFWriter(path, arch="test")
    writer.data_alignment = 64
    writer.add_custom_alignment(64)
    writer.add_uint8("test.uint8", 200)
    writer.add_int8("test.int8", -100)
    writer.add_uint16("test.uint16", 60000)
    writer.add_int16("test.int16", -30000)
    writer.add_uint32("test.uint32", 4000000000)
    writer.add_int32("test.int32", -2000000000)
    writer.add_float32("test.float32", 0.15625)
    writer.add_bool("test.bool", True)
    writer.add_string("test.string", "héllo ✓")
    writer.add_uint64("test.uint64", 2**63 + 5)
    writer.add_int64("test.int64", -(2**62))
    writer.add_float64("test.float64", 3.141592653589793)
    writer.add_array("test.strings", ["a", "", "ü"])
    writer.add_array("test.floats", [0.5, -1.25])
    writer.add_array("test.ints", [1, -2, 3])
    writer.add_array("test.nested", [[1, 2], [3]])
    expected = []
    for qtype in [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q4_K, T.Q5_K, T.Q6_K]:
        data = random_tensor(qtype)
        name = f"t.{qtype.name.lower()}"
        if qtype in (T.F32, T.F16):
            writer.add_tensor(name, data)
        else:
            writer.add_tensor(name, data, raw_dtype=qtype)
        stored = data.view(np.uint8) if qtype not in (T.F32, T.F16) else data
        decoded = quants.dequantize(stored, qtype).astype(np.float32)
        expected.append({"name": name, "type": qtype.name, "shape": list(decoded.shape),
                         "values": [float(v) for v in decoded.reshape(-1)]})
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with open(os.path.join(OUT, "blocks.json"), "w") as f:
        json.dump({"file": "blocks.gguf", "tensors": expected}, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
