#!/usr/bin/env python3
"""Checks a `dlp prune` output's `sparse/` export with compressed-tensors' own decompressor.

`sparse/` stores each block linear in the compressed-tensors "sparse-bitmask" layout
(`X.bitmask`, `X.compressed`, `X.row_offsets`, `X.shape`) and everything else dense, with a
`quantization_config` in config.json. This script reads it back with an independent
implementation — compressed-tensors 0.14.x, the last release that ships the bitmask compressor
(0.15 removed it) — and checks, bit for bit, that every weight it decompresses equals the `hf/`
export's weight (F32) rounded to the value type `sparse/` stored (`torch.Tensor.to(dtype)`
rounds to nearest even, as dlp does), and that every tensor of `hf/` is accounted for.

With quantized values (`--sparse-dtype q8_0|q4_0`: compressed-tensors "int-quantized" composed
with the bitmask), each block linear must equal `hf/`'s weight quantized to nearest on ggml's
grid and dequantized — computed here by the `gguf` package's own quantizer
(`gguf.quants.quantize` / `dequantize`, an implementation independent of dlp's) — and the other
tensors `hf/`'s rounded to BF16. Path 1 then dequantizes the decompressed I8 codes with
compressed-tensors' `dequantize` and the stored `weight_scale`; path 2 loads into an F32 model.

Two decompression paths are checked:
1. `ModelCompressor.from_pretrained(sparse/)` (which parses config.json's quantization_config)
   and its sparsity compressor's `decompress(sparse/)`: the dense state dict, weight by weight;
2. `ModelCompressor.decompress(model_path=sparse/, model=m)` into a model built from the config,
   as a loader does; then every parameter of `m` is compared.

The first run creates a virtual environment with compressed-tensors==0.14.*, torch and
safetensors (several GB: PyPI's torch wheel brings CUDA libraries, unused here) under
`$DLP_HOME/venvs/` (default `~/.cache/dlp/venvs/`), outside the repository, and re-runs itself
in it. Prints one JSON object; exits 1 on any mismatch.

Usage: python3 scripts/reference/check_sparse_export.py DIR      (DIR holds hf/ and sparse/)
"""
import hashlib, json, os, subprocess, sys, venv
from pathlib import Path

os.environ.pop("OPENBLAS_CORETYPE", None)

# compressed-tensors 0.14.0.1 imports psutil without declaring it.
PACKAGES = ["compressed-tensors==0.14.*", "transformers<5", "torch", "safetensors", "numpy", "psutil", "gguf"]
HOME = Path(os.environ.get("DLP_HOME") or Path.home() / ".cache/dlp")
VENV = HOME / "venvs" / "compressed-tensors-0.14"


def ensure_venv():
    """Re-executes this script inside the venv, creating it first if needed."""
    python = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    marker = VENV / ("installed-" + hashlib.sha256(" ".join(PACKAGES).encode()).hexdigest()[:12])
    if not marker.exists():
        print(f"installing {', '.join(PACKAGES)} into {VENV}", file=sys.stderr)
        if not python.exists():
            venv.create(VENV, with_pip=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PACKAGES], check=True)
        marker.touch()
    os.execv(str(python), [str(python), __file__, *sys.argv[1:]])


def main():
    import torch
    import compressed_tensors
    from compressed_tensors.compressors import ModelCompressor
    from safetensors import safe_open
    from transformers import AutoConfig, AutoModelForCausalLM

    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        raise SystemExit(__doc__)
    directory = Path(sys.argv[1])
    hf, sparse = directory / "hf", directory / "sparse"
    torch.set_num_threads(2)
    config = json.loads((sparse / "config.json").read_text())
    qc = config["quantization_config"]
    kinds = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}

    with safe_open(str(hf / "model.safetensors"), framework="pt") as f:
        reference = {name: f.get_tensor(name) for name in f.keys()}
    with safe_open(str(sparse / "model.safetensors"), framework="pt") as f:
        stored = {name: f.get_tensor(name) for name in f.keys()}
    value_dtype = next(t.dtype for n, t in stored.items() if n.endswith(".compressed"))   # int8 codes when quantized
    stored_dtypes = sorted({f"{n.rsplit('.', 1)[-1]}:{t.dtype}" for n, t in stored.items()
                            if n.rsplit(".", 1)[-1] in ("bitmask", "row_offsets", "shape")})

    def expected(name, dtype):
        return reference[name].to(dtype)

    def same_bits(a, b):
        return a.shape == b.shape and a.dtype == b.dtype and torch.equal(a.view(torch.int16 if a.element_size() == 2 else torch.int32),
                                                                          b.view(torch.int16 if b.element_size() == 2 else torch.int32))

    groups = qc.get("config_groups") or {}
    bits = next(iter(groups.values()))["weights"]["num_bits"] if groups else None
    if bits is not None:
        import numpy as np
        from gguf import GGMLQuantizationType, quants
        ggml_type = {8: GGMLQuantizationType.Q8_0, 4: GGMLQuantizationType.Q4_0}[bits]

        def expected(name, dtype):
            w = reference[name]
            if f"{name[:-len('.weight')]}.bitmask" not in stored:
                return w.to(torch.bfloat16).to(dtype)
            q = quants.dequantize(quants.quantize(w.numpy().astype(np.float32), ggml_type), ggml_type)
            return torch.from_numpy(np.asarray(q, dtype=np.float32).reshape(w.shape)).to(dtype)

    compressor = ModelCompressor.from_pretrained(str(sparse))
    mismatches, compressed, dense = [], 0, 0
    seen = set()
    for name, tensor in compressor.sparsity_compressor.decompress(str(sparse)):
        seen.add(name)
        if bits is not None and name.endswith(".weight_scale") and name[:-len("_scale")] in reference:
            continue  # the quantization's parameter, used below
        if name not in reference:
            mismatches.append(f"{name}: not in hf/")
            continue
        if f"{name[:-len('.weight')]}.bitmask" in stored:
            compressed += 1
            if bits is not None:
                from compressed_tensors.quantization.lifecycle.forward import dequantize
                if tensor.dtype != torch.int8:
                    mismatches.append(f"{name}: decompressed {tensor.dtype}, expected int8 codes")
                    continue
                tensor = dequantize(tensor, stored[name + "_scale"])
        else:
            dense += 1
        if not same_bits(tensor, expected(name, tensor.dtype)):
            mismatches.append(f"{name}: decompressed {tensor.dtype} {list(tensor.shape)} differs from hf/ rounded")
    missing = sorted(set(reference) - seen)
    mismatches += [f"{name}: in hf/ but not decompressed" for name in missing]

    # Path 2: into a model, as a loader does.
    model_config = AutoConfig.from_pretrained(str(hf))
    model = AutoModelForCausalLM.from_config(model_config, dtype=torch.float32 if bits else value_dtype).eval()
    if bits is not None:
        # As a loader does: the tensors stored as they are load first (with quantization the
        # compressor's decompress replaces only the compressed weights), then decompress.
        plain = {n: t for n, t in stored.items() if n.endswith(".weight") and not n.endswith("_scale")}
        model.load_state_dict(plain, strict=False)
    compressor.decompress(model_path=str(sparse), model=model)
    model_checked = 0
    for name, parameter in model.state_dict().items():
        if name not in reference:
            continue  # a tied head appears under both names; hf/ stores the embedding once
        model_checked += 1
        if not same_bits(parameter.detach(), expected(name, parameter.dtype)):
            mismatches.append(f"model parameter {name} differs from hf/ rounded to {parameter.dtype}")

    linears = [n for n in reference if n.endswith("proj.weight")]
    zeros = sum(int((reference[n] == 0).sum()) for n in linears)
    total = sum(reference[n].numel() for n in linears)
    kinds = sorted({m.split(": ", 1)[-1] for m in mismatches})
    result = {
        "compressed_tensors": compressed_tensors.__version__, "torch": torch.__version__,
        "quantization_config": qc, "value_dtype": str(value_dtype), "quantized_bits": bits, "index_dtypes": stored_dtypes,
        "decompressed_compressed": compressed, "decompressed_dense": dense, "model_parameters_checked": model_checked,
        "hf_tensors": len(reference), "linear_sparsity": zeros / total,
        "mismatches": mismatches[:20], "mismatch_kinds": kinds[:10], "mismatch_count": len(mismatches), "ok": not mismatches,
    }
    print(json.dumps(result, indent=1))
    sys.exit(0 if not mismatches else 1)


if __name__ == "__main__":
    ensure_venv()
    main()
