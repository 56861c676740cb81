#!/usr/bin/env python3
"""Writes the seeds of the sparse-checkpoint fuzz harness (Fuzz/corpus/sparse-checkpoint/): a
one-block LLaMA (hidden 8, intermediate 12, 2 heads of 4, 1 KV head, vocabulary 16, tied) whose
seven block linears are stored in the compressed-tensors sparse-bitmask layout, one seed per value
type, and two with quantized values (Q8_0 / Q4_0 codes on ggml's grid, int-quantized with
32-input groups; their linears have 32 or 64 inputs, so they do not fit the harness's model
config: the harness reads them through `SparseBitmaskSource` directly). Each seed is
`quantization_config` as one line of JSON, a newline, then the safetensors file. Needs numpy
only; deterministic."""
import json, os, struct, sys
import numpy as np

D, F, H, K, HD, V = 8, 12, 2, 1, 4, 16
rng = np.random.default_rng(0)

def bf16_bytes(a):
    bits = a.astype(np.float32).view(np.uint32)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16).tobytes()

def compress(name, w, dtype, tensors):
    mask = w != 0
    tensors[name + ".shape"] = ("I64", [2], np.array(w.shape, dtype=np.int64).tobytes())
    nz = w[mask]
    data = {"F32": nz.astype(np.float32).tobytes(), "F16": nz.astype(np.float16).tobytes(), "BF16": bf16_bytes(nz)}[dtype]
    tensors[name + ".compressed"] = (dtype, [int(nz.size)], data)
    packed = np.packbits(mask, axis=1, bitorder="little")
    tensors[name + ".bitmask"] = ("U8", list(packed.shape), packed.tobytes())
    counts = mask.sum(axis=1)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    tensors[name + ".row_offsets"] = ("I64", [w.shape[0]], offsets.tobytes())

def safetensors(tensors):
    header, blobs, offset = {}, [], 0
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)

def seed(dtype, density):
    tensors = {"model.embed_tokens.weight": ("F32", [V, D], rng.standard_normal((V, D)).astype(np.float32).tobytes()),
               "model.norm.weight": ("F32", [D], np.ones(D, np.float32).tobytes())}
    p = "model.layers.0."
    for norm in ("input_layernorm", "post_attention_layernorm"):
        tensors[p + norm + ".weight"] = ("F32", [D], np.ones(D, np.float32).tobytes())
    for name, shape in [("self_attn.q_proj", (H * HD, D)), ("self_attn.k_proj", (K * HD, D)), ("self_attn.v_proj", (K * HD, D)),
                        ("self_attn.o_proj", (D, H * HD)), ("mlp.gate_proj", (F, D)), ("mlp.up_proj", (F, D)),
                        ("mlp.down_proj", (D, F))]:
        w = rng.standard_normal(shape).astype(np.float32)
        w[rng.random(shape) > density] = 0
        compress(p + name, w, dtype, tensors)
    config = {"quant_method": "compressed-tensors",
              "sparsity_config": {"format": "sparse-bitmask", "global_sparsity": 1 - density, "ignore": ["lm_head"],
                                  "sparsity_structure": "unstructured", "targets": ["Linear"]},
              "transform_config": {}, "version": "0.14.0.1"}
    return json.dumps(config, separators=(",", ":")).encode() + b"\n" + safetensors(tensors)

def ggml_round(v):
    return np.sign(v) * np.floor(np.abs(v) + 0.5)

def quantize(w, bits):
    """ggml's reference Q8_0 / Q4_0 round-to-nearest per 32 inputs: (codes int8, f16 scales as f32)."""
    rows, cols = w.shape
    g = w.reshape(rows, cols // 32, 32).astype(np.float32)
    if bits == 8:
        d = np.abs(g).max(axis=2) / 127
        inv = np.where(d != 0, 1 / np.where(d != 0, d, 1), 0)
        q = ggml_round(g * inv[..., None])
    else:
        idx = np.abs(g).argmax(axis=2)
        mx = np.take_along_axis(g, idx[..., None], axis=2)[..., 0]
        d = mx / -8
        inv = np.where(d != 0, 1 / np.where(d != 0, d, 1), 0)
        q = np.minimum(15, np.floor(g * inv[..., None] + 8.5)) - 8
    return q.reshape(rows, cols).astype(np.int8), d.astype(np.float16).astype(np.float32)

def quantized_seed(bits, density):
    tensors = {}
    p = "model.layers.0."
    for name, shape in [("self_attn.q_proj", (8, 32)), ("self_attn.k_proj", (4, 64)), ("mlp.down_proj", (3, 32))]:
        w = rng.standard_normal(shape).astype(np.float32)
        w[rng.random(shape) > density] = 0
        codes, scales = quantize(w, bits)
        mask = codes != 0
        tensors[p + name + ".shape"] = ("I64", [2], np.array(shape, dtype=np.int64).tobytes())
        tensors[p + name + ".compressed"] = ("I8", [int(mask.sum())], codes[mask].tobytes())
        packed = np.packbits(mask, axis=1, bitorder="little")
        tensors[p + name + ".bitmask"] = ("U8", list(packed.shape), packed.tobytes())
        offsets = np.concatenate([[0], np.cumsum(mask.sum(axis=1))[:-1]]).astype(np.int64)
        tensors[p + name + ".row_offsets"] = ("I64", [shape[0]], offsets.tobytes())
        tensors[p + name + ".weight_scale"] = ("F32", list(scales.shape), scales.tobytes())
    weights = {"actorder": None, "dynamic": False, "group_size": 32, "num_bits": bits, "strategy": "group", "symmetric": True,
               "type": "int"}
    config = {"config_groups": {"group_0": {"input_activations": None, "targets": ["Linear"], "weights": weights}},
              "format": "int-quantized", "quant_method": "compressed-tensors", "quantization_status": "compressed",
              "sparsity_config": {"format": "sparse-bitmask", "global_sparsity": 1 - density, "ignore": ["lm_head"],
                                  "sparsity_structure": "unstructured", "targets": ["Linear"]},
              "transform_config": {}, "version": "0.14.0.1"}
    return json.dumps(config, separators=(",", ":")).encode() + b"\n" + safetensors(tensors)

folder = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus/sparse-checkpoint")
for dtype, density in [("F16", 0.5), ("BF16", 0.3), ("F32", 0.9)]:
    with open(os.path.join(folder, f"tiny-{dtype.lower()}"), "wb") as out:
        out.write(seed(dtype, density))
for bits, density in [(8, 0.4), (4, 0.6)]:
    with open(os.path.join(folder, f"tiny-q{bits}_0"), "wb") as out:
        out.write(quantized_seed(bits, density))
