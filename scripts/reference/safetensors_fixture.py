#!/usr/bin/env python3
"""Reference safetensors fixture, written by the official `safetensors` package (0.8.0).

    python3 scripts/reference/safetensors_fixture.py            # writes the two fixtures below
    python3 scripts/reference/safetensors_fixture.py check PATH # loads PATH (a file written by dlp) and checks it

Tensor values follow closed formulas of the element index i (row-major), so the Swift test
(`SafetensorsReferenceTests`) recomputes them instead of storing a copy:

    embed.f32   F32  [3, 4]  (i - 5) * 0.375 + 0.1     (rounded to float32)
    layer.f16   F16  [2, 5]  i * 0.3 - 1.2             (rounded to float16, nearest even)
    norm.bf16   BF16 [7]     (i + 1) * 1.1 * (-1)^i    (float32, then rounded to bfloat16, nearest even)
    scalar.f32  F32  []      3.5
    empty.f16   F16  [0]     (no values)
    ids.i64     I64  [3]     1, 2, 3                   (a dtype dlp recognises but does not decode)

Fixtures (Tests/Fixtures/safetensors/):

    tiny.safetensors         all six tensors, metadata {"format": "pt", "source": ...}
    tiny-floats.safetensors  the five float tensors, metadata {"format": "pt"}: dlp's writer,
                             given the same tensors in the same order, must produce identical bytes

BF16 is built from the float32 bit pattern here because numpy has no bfloat16 type.
"""
import os
import sys

import numpy as np
import safetensors
from safetensors import TensorSpec

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "safetensors")
METADATA = {"format": "pt", "source": "scripts/reference/safetensors_fixture.py"}


def bf16_bits(values_f32):
    bits = values_f32.astype(np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def expected():
    """name -> (dtype, shape, float64 values as stored, or raw array for ints)."""
    i12 = np.arange(12, dtype=np.float64)
    i10 = np.arange(10, dtype=np.float64)
    i7 = np.arange(7, dtype=np.float64)
    f32 = ((i12 - 5) * 0.375 + 0.1).astype(np.float32)
    f16 = (i10 * 0.3 - 1.2).astype(np.float16)
    norm = ((i7 + 1) * 1.1 * (-1.0) ** i7).astype(np.float32)
    bf16 = bf16_bits(norm)
    return {
        "embed.f32": ("F32", [3, 4], f32),
        "layer.f16": ("F16", [2, 5], f16),
        "norm.bf16": ("BF16", [7], bf16),
        "scalar.f32": ("F32", [], np.array([3.5], dtype=np.float32)),
        "empty.f16": ("F16", [0], np.zeros(0, dtype=np.float16)),
        "ids.i64": ("I64", [3], np.array([1, 2, 3], dtype=np.int64)),
    }


TORCH_NAMES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64"}


def write_fixture(file_name, arrays, metadata):
    out = os.path.normpath(os.path.join(FIXTURES, file_name))
    keep_alive = [np.ascontiguousarray(array) for _, _, array in arrays.values()]
    specs = {
        name: TensorSpec(dtype=TORCH_NAMES[dtype], shape=shape, data_ptr=array.ctypes.data, data_len=array.nbytes)
        for (name, (dtype, shape, _)), array in zip(arrays.items(), keep_alive)
    }
    safetensors.serialize_file(specs, out, metadata=metadata)
    print(f"wrote {out} ({os.path.getsize(out)} bytes)")


def write():
    arrays = expected()
    write_fixture("tiny.safetensors", arrays, METADATA)
    floats = {name: entry for name, entry in arrays.items() if entry[0] != "I64"}
    write_fixture("tiny-floats.safetensors", floats, {"format": "pt"})


def decoded(entry):
    data = np.frombuffer(entry["data"], dtype=np.uint8)
    if entry["dtype"] == "F32":
        return data.view(np.float32).astype(np.float64)
    if entry["dtype"] == "F16":
        return data.view(np.float16).astype(np.float64)
    if entry["dtype"] == "BF16":
        return (data.view(np.uint16).astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    if entry["dtype"] == "F64":
        return data.view(np.float64)
    raise ValueError(f"unexpected dtype {entry['dtype']}")


def check(path):
    """Loads a dlp-written file with the reference parser (which validates the header and the
    tiling of the data section) and compares every float tensor present with the formulas."""
    with open(path, "rb") as handle:
        content = handle.read()
    tensors = dict(safetensors.deserialize(content))
    with safetensors.safe_open(path, framework="numpy") as handle:
        metadata = handle.metadata()
    print(f"{path}: {len(tensors)} tensors, metadata {metadata}")
    reference = expected()
    failures = 0
    for name, entry in sorted(tensors.items()):
        if name not in reference or reference[name][0] == "I64":
            print(f"  {name}: {entry['dtype']} {entry['shape']} (not compared)")
            continue
        dtype, shape, array = reference[name]
        want = decoded({"dtype": dtype, "data": array.tobytes()})
        got = decoded(entry)
        ok = entry["dtype"] == dtype and list(entry["shape"]) == shape and np.array_equal(got, want)
        failures += not ok
        print(f"  {name}: {entry['dtype']} {entry['shape']} {'ok (bit-exact)' if ok else 'MISMATCH'}")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "check":
        check(sys.argv[2])
    else:
        write()
