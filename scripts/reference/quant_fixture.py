#!/usr/bin/env python3
"""Golden fixture for the Swift quantizers (TensorIO `quantize(_:as:)`).

A fixed float32 array of 768 values (24 blocks of 32, 3 super-blocks of 256) with zeros, all-zero
blocks, blocks that mix zeros and non-zeros, large and tiny magnitudes, a negative value of
largest magnitude, magnitude ties and rounding ties, is encoded with the reference quantizers:

- the `gguf` package's `gguf.quants.quantize(data, GGMLQuantizationType.X)` for every type it
  implements among BF16, F16, Q8_0, Q4_0, Q5_0, Q6_K (gguf 0.19 has no Q6_K encoder);
- optionally (`--libggml PATH/libggml-base.so`), llama.cpp's own `quantize_row_<type>_ref`
  through ctypes: Q6_K comes from there, and for Q8_0/Q4_0/Q5_0 the script asserts that ggml and
  gguf-py agree byte for byte.

Usage (in a venv with `pip install gguf numpy`):
    python3 scripts/reference/quant_fixture.py \
        [--libggml ~/.cache/dlp/venvs/llama-cpp/lib/python3.11/site-packages/llama_cpp/lib/libggml-base.so]
Writes Tests/Fixtures/quant/quantized.json: the input and each type's bytes, base64, with the
producing package and version.
"""
import argparse
import base64
import ctypes
import glob
import importlib.metadata
import json
import os

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants

BLOCK_BYTES = {"Q8_0": (32, 34), "Q4_0": (32, 18), "Q5_0": (32, 22), "Q6_K": (256, 210)}


def block(kind: str, rng: np.random.Generator) -> np.ndarray:
    """One block of 32 values of the named kind."""
    if kind == "normal":
        return rng.normal(0, 0.02, 32)
    if kind == "zeros":
        return np.zeros(32)
    if kind == "sparse":  # about 70% zeros
        v = rng.normal(0, 0.05, 32)
        v[rng.random(32) < 0.7] = 0
        return v
    if kind == "negative-max":
        v = np.abs(rng.normal(0, 0.01, 32))
        v[5] = -0.2
        v[9] = 0
        return v
    if kind == "large":
        v = rng.normal(0, 300, 32)
        v[::4] = 0
        return v
    if kind == "tiny":  # scales below binary16's smallest subnormal
        v = rng.normal(0, 1e-6, 32)
        v[1::3] = 0
        return v
    if kind == "single":
        v = np.zeros(32)
        v[17] = 0.37
        return v
    if kind == "ties":  # ±max twice (the first wins), and x/d landing on .5 boundaries
        v = np.arange(-16, 16) / 16.0
        v[0], v[31] = -1.0, 1.0
        v[16] = 0
        return v
    if kind == "tiny-group":  # Q6_K: a group whose scale rounds to 0 next to large groups
        v = rng.normal(0, 1e-5, 32)
        v[16:] = rng.normal(0, 4.0, 16)
        v[3] = 0
        return v
    raise ValueError(kind)


def make_input() -> np.ndarray:
    rng = np.random.default_rng(20240531)
    kinds = (["normal", "zeros", "sparse", "negative-max", "large", "tiny", "single", "ties"]  # super-block 0
             + ["zeros"] * 8                                                                  # super-block 1: all zero
             + ["sparse", "sparse", "zeros", "tiny-group", "sparse", "negative-max", "sparse", "normal"])  # 2
    return np.concatenate([block(k, rng) for k in kinds]).astype(np.float32)


def ggml_reference(lib: ctypes.CDLL, name: str, x: np.ndarray) -> bytes:
    block_size, block_bytes = BLOCK_BYTES[name]
    out = (ctypes.c_uint8 * (x.size // block_size * block_bytes))()
    fn = getattr(lib, f"quantize_row_{name.lower().replace('_k', '_K')}_ref")
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    fn.restype = None
    fn(x.ctypes.data, ctypes.addressof(out), x.size)
    return bytes(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--libggml", help="path to llama.cpp's libggml-base.so (adds Q6_K, cross-checks the others)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "../../Tests/Fixtures/quant/quantized.json"))
    args = parser.parse_args()

    x = np.ascontiguousarray(make_input())
    gguf_version = importlib.metadata.version("gguf")
    types = {}
    for name in ["BF16", "F16", "Q8_0", "Q4_0", "Q5_0", "Q6_K"]:
        try:
            data = quants.quantize(x.reshape(-1, 256), T[name])
        except NotImplementedError:
            continue
        types[name] = {"source": f"gguf {gguf_version} gguf.quants.quantize",
                       "base64": base64.b64encode(np.ascontiguousarray(data).tobytes()).decode()}
    if args.libggml:
        lib = ctypes.CDLL(os.path.expanduser(args.libggml))
        label = "llama.cpp libggml-base"
        site = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(os.path.expanduser(args.libggml)))))
        dist = sorted(glob.glob(os.path.join(site, "llama_cpp_python-*.dist-info")))
        if dist:
            label += " of " + os.path.basename(dist[-1]).removesuffix(".dist-info").replace("_", "-").replace("-python-", "-python ")
        for name in BLOCK_BYTES:
            ref = ggml_reference(lib, name, x)
            if name in types:
                assert base64.b64decode(types[name]["base64"]) == ref, f"gguf-py and ggml disagree on {name}"
                types[name]["source"] += f"; equal to {label} quantize_row_{name}_ref"
            else:
                types[name] = {"source": f"{label} quantize_row_{name}_ref (ctypes)", "base64": base64.b64encode(ref).decode()}

    fixture = {
        "generator": "scripts/reference/quant_fixture.py",
        "count": int(x.size),
        "input_f32le_base64": base64.b64encode(x.astype("<f4").tobytes()).decode(),
        "types": types,
    }
    out = os.path.normpath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(fixture, f, indent=1, sort_keys=True)
        f.write("\n")
    sources = ", ".join(f"{name} ({entry['source']})" for name, entry in types.items())
    print(f"wrote {out}: {sources}")


if __name__ == "__main__":
    main()
