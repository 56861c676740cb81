#!/usr/bin/env python3
"""Writes a LLaMA-shaped GGUF of random quantized weights, to measure dlp's streaming (memory and
time per block) on 7B/8B-sized models that this machine has no real copy of. Not run by CI; the
output is not committed (delete it when done: the 7B file is 3.9 GB, the 8B one 4.7 GB).

Usage (in a venv with the `gguf` package, e.g. ~/.cache/dlp/venvs/gguf):
    python3 scripts/reference/synthetic_gguf.py --shape llama2-7b --output /tmp/llama2-7b.gguf
    python3 scripts/reference/synthetic_gguf.py --shape llama3-8b --blocks 4 --output /tmp/l3-4.gguf

Shapes (`--blocks N` replaces the block count, e.g. a handful of blocks of the full width):

| shape       | blocks | hidden | FFN   | heads / KV | vocab  | RoPE                                  |
|-------------|--------|--------|-------|------------|--------|---------------------------------------|
| llama2-7b   | 32     | 4096   | 11008 | 32 / 32    | 32000  | θ 1e4                                 |
| llama3-8b   | 32     | 4096   | 14336 | 32 / 8     | 128256 | θ 5e5, llama3 scaling (rope_freqs)    |
| tiny-llama2 | 4      | 256    | 704   | 4 / 4      | 32000  | θ 1e4                                 |
| tiny-llama3 | 4      | 256    | 896   | 4 / 2      | 128256 | θ 5e5, llama3 scaling (rope_freqs)    |

Tensors, as llama.cpp's Q4_0 conversion of these models stores them:
- block linears (`blk.N.attn_q/k/v/output`, `blk.N.ffn_gate/up/down`): Q4_0, written directly as
  random blocks (nothing is quantized here, no float copy of a tensor exists). Each 32-weight block
  holds 32 4-bit levels `q` drawn independently from a discretised normal (`q = clip(round(8 +
  2.5·z), 1, 15)`, so `q − 8` is symmetric with standard deviation ≈ 2.42) and an f16 scale
  `d = σ · exp(0.25·z') / 2.42` with `z'` standard normal per block: every block's weights have
  standard deviation about `σ`, varying by ±25% between blocks. `σ` grows slowly with depth, as
  in trained LLaMA models: `σ = 0.02 · g · (1 + 0.5 · l / (L − 1))` for block `l` of `L`, with
  `g = 1` for q, k, gate and up and `g = 0.6` for v, output and down (0.012–0.03 in all).
- token embedding `token_embd`: Q4_0 the same way, `σ = 0.02`.
- LM head `output`: Q6_K (llama.cpp keeps the head at 6 bits in a Q4_0 file): random 6-bit levels
  (uniform, `q − 32` has standard deviation ≈ 18.5), random int8 sub-block scales in 48…127 and
  an f16 super-block scale that gives the block a standard deviation of about 0.02.
- norms (`attn_norm`, `ffn_norm`, `output_norm`): F32, `1 + 0.05·z`.
- llama3 shapes: `rope_freqs.weight` (F32, `[head_dim/2]`), the per-frequency divisors that
  llama.cpp's converter computes from Llama 3.1's `rope_scaling` (factor 8, low-frequency factor 1,
  high-frequency factor 4, original context 8192); dlp reads it as `RotaryScaling.frequencyFactors`.

Tokenizer: dlp tokenizes calibration text with the model's own vocabulary, so the file carries
SmolLM2-135M's byte-level BPE (`--tokenizer`, default ~/.cache/dlp/models/smollm2-135m.gguf:
49,152 tokens, 48,900 merges, pre-tokenizer `smollm`, special tokens 0–16) adapted to the
shape's vocabulary size `V`:
- `V` < 49,152 (LLaMA-2's 32,000): the first `V` tokens are kept (the special tokens, the 256 byte
  tokens and the earliest merges' results), and every merge whose left part, right part or result
  is no longer a token is dropped. A BPE whose merges only produce tokens of the vocabulary is a
  valid tokenizer: text still tokenizes (into shorter pieces), every id is below `V`.
- `V` > 49,152 (LLaMA-3's 128,256): tokens `<|reserved_special_token_N|>` of type unused (5) are
  appended up to `V`; no merge produces them, so ids ≥ 49,152 never occur in calibration.
BOS/EOS/unknown/padding ids (0–2) and `add_bos_token = false` are SmolLM2's.

Writing streams to disk: the header and metadata through gguf-py's writer, then each tensor in
chunks of at most 2^20 blocks, so memory stays in the tens of megabytes whatever the shape.
Deterministic for a given `--seed`.
"""
import argparse
import math
import os
import statistics
import sys
import time

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T

SHAPES = {
    "llama2-7b": dict(blocks=32, hidden=4096, ffn=11008, heads=32, kv_heads=32, vocab=32000, context=4096,
                      rope_theta=10000.0, llama3_rope=False, name="synthetic LLaMA-2-7B shape"),
    "llama3-8b": dict(blocks=32, hidden=4096, ffn=14336, heads=32, kv_heads=8, vocab=128256, context=131072,
                      rope_theta=500000.0, llama3_rope=True, name="synthetic LLaMA-3-8B shape"),
    "tiny-llama2": dict(blocks=4, hidden=256, ffn=704, heads=4, kv_heads=4, vocab=32000, context=4096,
                        rope_theta=10000.0, llama3_rope=False, name="synthetic tiny LLaMA-2 shape"),
    "tiny-llama3": dict(blocks=4, hidden=256, ffn=896, heads=4, kv_heads=2, vocab=128256, context=131072,
                        rope_theta=500000.0, llama3_rope=True, name="synthetic tiny LLaMA-3 shape"),
}
RMS_EPSILON = 1e-5
# Llama 3.1's rope_scaling.
LLAMA3_SCALING = dict(factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=8192)
BASE_SIGMA = 0.02
ROLE_GAIN = {"attn_q": 1.0, "attn_k": 1.0, "attn_v": 0.6, "attn_output": 0.6,
             "ffn_gate": 1.0, "ffn_up": 1.0, "ffn_down": 0.6}
LEVEL_SIGMA = 2.5           # standard deviation of the normal the 4-bit levels are drawn from
SCALE_JITTER = 0.25         # log-normal spread of the per-block scales
CHUNK_BLOCKS = 1 << 20
Q4_0_BLOCK, Q4_0_BYTES = gguf.GGML_QUANT_SIZES[T.Q4_0]
Q6_K_BLOCK, Q6_K_BYTES = gguf.GGML_QUANT_SIZES[T.Q6_K]


def q4_level_table():
    """Packed byte for every 16-bit random draw: low byte → low nibble, high byte → high nibble,
    each through the inverse normal CDF at (u + 0.5)/256 (a discretised N(8, 2.5²) clipped to
    1…15). Returns the table and the standard deviation of `q − 8` it produces."""
    normal = statistics.NormalDist()
    nibble = np.array([min(15, max(1, round(8 + LEVEL_SIGMA * normal.inv_cdf((u + 0.5) / 256)))) for u in range(256)],
                      dtype=np.uint8)
    level_sd = float(np.sqrt(np.mean((nibble.astype(np.float64) - 8) ** 2)))
    u = np.arange(1 << 16, dtype=np.uint32)
    table = (nibble[u & 0xFF] | (nibble[u >> 8] << 4)).astype(np.uint8)
    return table, level_sd


Q4_TABLE, Q4_LEVEL_SD = q4_level_table()


def q4_0_chunks(rng, rows, columns, sigma):
    """Q4_0 bytes of a `[rows, columns]` tensor, yielded in chunks of whole blocks."""
    total = rows * columns // Q4_0_BLOCK
    for start in range(0, total, CHUNK_BLOCKS):
        n = min(CHUNK_BLOCKS, total - start)
        out = np.empty((n, Q4_0_BYTES), dtype=np.uint8)
        scales = sigma * np.exp(SCALE_JITTER * rng.standard_normal(n)) / Q4_LEVEL_SD
        out[:, :2] = scales.astype(np.float16).view(np.uint8).reshape(n, 2)
        out[:, 2:] = Q4_TABLE[rng.integers(0, 1 << 16, size=(n, Q4_0_BYTES - 2), dtype=np.uint16)]
        yield out


def q6_k_chunks(rng, rows, columns, sigma):
    """Q6_K bytes of a `[rows, columns]` tensor: ql[128], qh[64], int8 scales[16], f16 d."""
    total = rows * columns // Q6_K_BLOCK
    level_sd = math.sqrt((64 ** 2 - 1) / 12 + 0.25)   # uniform q in 0…63, q − 32: mean −0.5
    for start in range(0, total, CHUNK_BLOCKS // 8):
        n = min(CHUNK_BLOCKS // 8, total - start)
        out = rng.integers(0, 256, size=(n, Q6_K_BYTES), dtype=np.uint8)
        sub_scales = rng.integers(48, 128, size=(n, 16), dtype=np.int16)
        out[:, 192:208] = sub_scales.astype(np.int8).view(np.uint8)
        rms = np.sqrt(np.mean(sub_scales.astype(np.float64) ** 2, axis=1))
        d = sigma / (level_sd * rms)
        out[:, 208:210] = d.astype(np.float16).view(np.uint8).reshape(n, 2)
        yield out


def f32_chunks(values):
    yield np.ascontiguousarray(values, dtype=np.float32)


def llama3_rope_factors(head_dim, theta):
    """llama.cpp's `rope_freqs` for Llama 3.1 scaling (convert_hf_to_gguf.py, LlamaModel)."""
    s = LLAMA3_SCALING
    low_wavelength = s["original_max_position_embeddings"] / s["low_freq_factor"]
    high_wavelength = s["original_max_position_embeddings"] / s["high_freq_factor"]
    factors = []
    for i in range(0, head_dim, 2):
        frequency = 1.0 / (theta ** (i / head_dim))
        wavelength = 2 * math.pi / frequency
        if wavelength < high_wavelength:
            factors.append(1.0)
        elif wavelength > low_wavelength:
            factors.append(s["factor"])
        else:
            smooth = (s["original_max_position_embeddings"] / wavelength - s["low_freq_factor"]) / (
                s["high_freq_factor"] - s["low_freq_factor"])
            factors.append(1 / ((1 - smooth) / s["factor"] + smooth))
    return np.array(factors, dtype=np.float32)


def adapted_vocabulary(path, size):
    """SmolLM2's byte-level vocabulary truncated or padded to `size` tokens (see the docstring)."""
    reader = gguf.GGUFReader(path)

    def field(key):
        if key not in reader.fields:
            sys.exit(f"{path} has no {key}: pass --tokenizer a GGUF with a byte-level (gpt2) vocabulary")
        return reader.fields[key].contents()

    if field("tokenizer.ggml.model") != "gpt2":
        sys.exit(f"{path}: tokenizer.ggml.model is not gpt2 (byte-level BPE)")
    tokens, types, merges = list(field("tokenizer.ggml.tokens")), list(field("tokenizer.ggml.token_type")), \
        list(field("tokenizer.ggml.merges"))
    if size <= len(tokens):
        tokens, types = tokens[:size], types[:size]
        kept = set(tokens)

        def valid(merge):
            left, right = merge.split(" ", 1)
            return left in kept and right in kept and left + right in kept

        merges = [m for m in merges if valid(m)]
    else:
        extra = size - len(tokens)
        tokens += [f"<|reserved_special_token_{i}|>" for i in range(extra)]
        types += [5] * extra
    ids = {key: int(field(key)) for key in ["tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                                            "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id"]
           if key in reader.fields and int(field(key)) < size}
    return dict(pre=field("tokenizer.ggml.pre"), tokens=tokens, types=types, merges=merges, ids=ids,
                add_bos=bool(field("tokenizer.ggml.add_bos_token")) if "tokenizer.ggml.add_bos_token" in reader.fields
                else False)


def tensor_plan(shape, rng):
    """(name, row-major shape, ggml type, stored bytes, chunk generator) in file order."""
    D, F, L = shape["hidden"], shape["ffn"], shape["blocks"]
    head_dim = D // shape["heads"]
    kv = shape["kv_heads"] * head_dim

    def q4(rows, columns, sigma):
        return (T.Q4_0, rows * columns // Q4_0_BLOCK * Q4_0_BYTES, lambda: q4_0_chunks(rng, rows, columns, sigma))

    def norm(n):
        return (T.F32, 4 * n, lambda: f32_chunks(1 + 0.05 * rng.standard_normal(n)))

    plan = []
    if shape["llama3_rope"]:
        factors = llama3_rope_factors(head_dim, shape["rope_theta"])
        plan.append(("rope_freqs.weight", [head_dim // 2], T.F32, factors.nbytes, lambda: f32_chunks(factors)))
    plan.append(("token_embd.weight", [shape["vocab"], D], *q4(shape["vocab"], D, BASE_SIGMA)))
    for l in range(L):
        depth = 1 + 0.5 * l / max(L - 1, 1)
        linears = {"attn_q": (D, D), "attn_k": (kv, D), "attn_v": (kv, D), "attn_output": (D, D),
                   "ffn_gate": (F, D), "ffn_up": (F, D), "ffn_down": (D, F)}
        plan.append((f"blk.{l}.attn_norm.weight", [D], *norm(D)))
        for role in ["attn_q", "attn_k", "attn_v", "attn_output"]:
            rows, columns = linears[role]
            plan.append((f"blk.{l}.{role}.weight", [rows, columns], *q4(rows, columns, BASE_SIGMA * ROLE_GAIN[role] * depth)))
        plan.append((f"blk.{l}.ffn_norm.weight", [D], *norm(D)))
        for role in ["ffn_gate", "ffn_up", "ffn_down"]:
            rows, columns = linears[role]
            plan.append((f"blk.{l}.{role}.weight", [rows, columns], *q4(rows, columns, BASE_SIGMA * ROLE_GAIN[role] * depth)))
    plan.append(("output_norm.weight", [D], *norm(D)))
    plan.append(("output.weight", [shape["vocab"], D], T.Q6_K, shape["vocab"] * D // Q6_K_BLOCK * Q6_K_BYTES,
                 lambda: q6_k_chunks(rng, shape["vocab"], D, BASE_SIGMA)))
    return plan


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", required=True, choices=sorted(SHAPES))
    parser.add_argument("--blocks", type=int, help="number of blocks (default: the shape's)")
    parser.add_argument("--output", required=True)
    parser.add_argument("--tokenizer", default=os.path.expanduser("~/.cache/dlp/models/smollm2-135m.gguf"),
                        help="GGUF whose byte-level vocabulary is adapted (default: SmolLM2-135M)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    shape = dict(SHAPES[args.shape])
    if args.blocks is not None:
        if args.blocks < 1:
            sys.exit("--blocks must be positive")
        shape["blocks"] = args.blocks
    D, heads = shape["hidden"], shape["heads"]
    head_dim = D // heads
    vocabulary = adapted_vocabulary(args.tokenizer, shape["vocab"])
    rng = np.random.default_rng(args.seed)
    plan = tensor_plan(shape, rng)

    started = time.time()
    temporary = args.output + ".tmp"
    writer = gguf.GGUFWriter(temporary, arch="llama")
    writer.add_name(shape["name"] + (f", {shape['blocks']} blocks" if args.blocks else ""))
    writer.add_description(f"random weights written by scripts/reference/synthetic_gguf.py --shape {args.shape} "
                           f"--seed {args.seed}; not a trained model")
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_0)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_context_length(shape["context"])
    writer.add_embedding_length(D)
    writer.add_block_count(shape["blocks"])
    writer.add_feed_forward_length(shape["ffn"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(shape["kv_heads"])
    writer.add_layer_norm_rms_eps(RMS_EPSILON)
    writer.add_rope_freq_base(shape["rope_theta"])
    writer.add_rope_dimension_count(head_dim)
    writer.add_vocab_size(shape["vocab"])
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(vocabulary["pre"])
    writer.add_token_list(vocabulary["tokens"])
    writer.add_token_types(vocabulary["types"])
    writer.add_token_merges(vocabulary["merges"])
    for key, value in vocabulary["ids"].items():
        writer.add_uint32(key, value)
    writer.add_bool("tokenizer.ggml.add_bos_token", vocabulary["add_bos"])
    for name, dims, qtype, nbytes, _ in plan:
        block, size = gguf.GGML_QUANT_SIZES[qtype]
        byte_shape = dims[:-1] + [dims[-1] // block * size]
        writer.add_tensor_info(name, byte_shape, np.dtype(np.uint8), nbytes, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    out = writer.fout[0]
    writer.write_padding(out, out.tell())
    for index, (name, dims, qtype, nbytes, chunks) in enumerate(plan):
        written = 0
        for chunk in chunks():
            data = chunk.view(np.uint8).reshape(-1)
            out.write(data.tobytes())
            written += data.size
        if written != nbytes:
            sys.exit(f"internal error: {name} wrote {written} bytes, expected {nbytes}")
        writer.write_padding(out, nbytes)
        if name.endswith("ffn_down.weight"):
            print(f"\r{name}  {out.tell() / 1e9:.2f} GB  {time.time() - started:.0f} s", end="", file=sys.stderr)
    writer.close()
    os.replace(temporary, args.output)
    print(f"\nwrote {args.output}: {args.shape}, {shape['blocks']} blocks, {len(plan)} tensors, "
          f"{os.path.getsize(args.output) / 1e9:.2f} GB, vocabulary {len(vocabulary['tokens'])} tokens / "
          f"{len(vocabulary['merges'])} merges, {time.time() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
