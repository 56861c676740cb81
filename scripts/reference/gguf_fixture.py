#!/usr/bin/env python3
"""Golden fixture for the Swift GGUF reader: decodes every tensor of the real models with the
independent `gguf` package (gguf.GGUFReader + gguf.quants.dequantize) and records, per tensor,
its ggml type, row-major shape (outermost first), the sha256 of the little-endian float32 decoded
values, their float64 sum and sum of squares, and 16 values at deterministic positions
    p_i = (i * (n - 1)) // 15,  i = 0..15   (flat row-major index).

Usage: python3 scripts/reference/gguf_fixture.py [--models-dir ~/.cache/dlp/models]
Writes Tests/Fixtures/gguf/golden_<model>.json (one per model found).
"""
import argparse
import hashlib
import importlib.metadata
import json
import os
import sys

import numpy as np
import gguf
from gguf import quants

MODELS = ["smollm2-135m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "gemma3-270m"]
SAMPLES = 16


def positions(n: int) -> list[int]:
    return [(i * (n - 1)) // (SAMPLES - 1) for i in range(SAMPLES)]


def describe(tensor) -> dict:
    qtype = gguf.GGMLQuantizationType(tensor.tensor_type)
    values = np.ascontiguousarray(quants.dequantize(tensor.data, qtype), dtype=np.float32).reshape(-1)
    shape = [int(d) for d in reversed(tensor.shape.tolist())]
    assert values.size == int(np.prod(shape)), tensor.name
    as64 = values.astype(np.float64)
    return {
        "name": tensor.name,
        "type": qtype.name,
        "shape": shape,
        "sha256": hashlib.sha256(values.astype("<f4").tobytes()).hexdigest(),
        "sum": float(as64.sum()),
        "sumOfSquares": float(np.dot(as64, as64)),
        "samples": [float(values[p]) for p in positions(values.size)],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models-dir", default=os.path.expanduser("~/.cache/dlp/models"))
    parser.add_argument("--out-dir", default=os.path.join(os.path.dirname(__file__), "../../Tests/Fixtures/gguf"))
    args = parser.parse_args()
    for model in MODELS:
        path = os.path.join(args.models_dir, model + ".gguf")
        if not os.path.exists(path):
            print(f"skip {model}: {path} missing", file=sys.stderr)
            continue
        reader = gguf.GGUFReader(path)
        tensors = [describe(t) for t in reader.tensors]
        out = os.path.join(args.out_dir, f"golden_{model}.json")
        with open(out, "w") as f:
            json.dump({"model": model, "gguf": "gguf-py " + importlib.metadata.version("gguf"), "samplePositions": "(i*(n-1))//15",
                       "tensors": tensors}, f, separators=(",", ":"))
            f.write("\n")
        print(f"{model}: {len(tensors)} tensors -> {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
