#!/usr/bin/env python3
"""Loads the models `dlp prune` exported with independent loaders and measures their perplexity on
the same windows dlp evaluated, for the export check of the pruning issue.

- `DIR/hf/`: transformers' own safetensors loader (`AutoModelForCausalLM.from_pretrained(DIR/hf)`).
- `DIR/model.gguf`: transformers' GGUF loader (the `gguf` package dequantizes it).
Both run the same perplexity protocol as dlp (scripts/reference/forward_fixture.py) on WikiText-2
with the window length and window count recorded in DIR/manifest.json, and also count the zeros
of the block linears. Prints one JSON object; compare with the manifest's `evaluation`.

Usage: python3 scripts/reference/check_export.py DIR [--threads 2]
"""
import argparse, json, os, sys
from pathlib import Path

os.environ.pop("OPENBLAS_CORETYPE", None)

import torch
from transformers import AutoModelForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parent))
from forward_fixture import perplexity, wiki_text  # noqa: E402
from tokenizer_fixture import read_gguf, byte_level  # noqa: E402


def linear_sparsity(model):
    zeros = total = 0
    for name, p in model.named_parameters():
        if ".layers." in name and name.endswith("proj.weight"):
            zeros += int((p == 0).sum())
            total += p.numel()
    return zeros / total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("directory", type=Path)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    manifest = json.loads((args.directory / "manifest.json").read_text())
    evaluation = next(e for e in manifest["evaluation"] if e["dataset"] == "wikitext2")
    T, windows = evaluation["sequenceLength"], evaluation["windows"]
    source = Path(manifest["model"]["path"])
    ids = byte_level(read_gguf(source)).encode(wiki_text()).ids
    result = {"dlp": evaluation["prunedPerplexity"], "T": T, "windows": windows}
    loaders = {
        "transformers_safetensors": lambda: AutoModelForCausalLM.from_pretrained(str(args.directory / "hf"), dtype=torch.float32),
        "transformers_gguf": lambda: AutoModelForCausalLM.from_pretrained(str(args.directory), gguf_file="model.gguf",
                                                                          dtype=torch.float32),
    }
    for name, load in loaders.items():
        model = load().eval()
        with torch.inference_mode():
            r = perplexity(model, ids, T, max_windows=windows)
        result[name] = {"ppl": r["ppl"], "linear_sparsity": linear_sparsity(model)}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
