#!/usr/bin/env python3
"""WikiText-2 perplexity of a GGUF computed by llama.cpp with the windows and scoring of `dlp
perplexity`, next to dlp's own figure for the same file: an independent check of dlp's reading and
dequantization of exported (quantized) GGUF files. Reference only (not CI).

Protocol (dlp's, `Sources/Evaluation/Perplexity.swift`): the test file's non-empty lines joined
with "\\n\\n" (WikiText-2 raw has only "\\n" line ends), tokenized by dlp's own tokenizer (`dlp
tokenize --json`, BOS as the model adds it) so both sides score the same ids; non-overlapping
windows of SEQLEN tokens (the first MAX_WINDOWS); every next-token prediction inside a window
scored; perplexity = exp(mean over windows of the window's mean NLL). llama.cpp quantizes the
activations for its quantized dot products, so agreement within ~1% is expected, not equality.

Setup: the llama.cpp venv of llamacpp_decode.py. Usage:
    ~/.cache/dlp/venvs/llama-cpp/bin/python scripts/reference/llamacpp_perplexity.py MODEL.gguf... \\
        --data wiki.test.raw [--seqlen 512] [--max-windows 4] [--threads 2] [--dlp .build/release/dlp]
Prints one JSON object with both perplexities per model.
"""
import argparse, json, math, os, subprocess, tempfile

os.environ.pop("OPENBLAS_CORETYPE", None)

import llama_cpp
import numpy as np


def dlp_tokens(dlp, model, data):
    with open(data, encoding="utf-8") as f:
        text = "\n\n".join(line for line in f.read().split("\n") if line)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as t:
        t.write(text)
    try:
        out = subprocess.run([dlp, "tokenize", model, "--file", t.name, "--json"], check=True, capture_output=True, text=True)
    finally:
        os.unlink(t.name)
    return json.loads(out.stdout)["ids"]


def llama_perplexity(model, windows, seqlen, threads):
    llm = llama_cpp.Llama(model_path=model, n_ctx=seqlen, n_batch=seqlen, n_ubatch=seqlen, logits_all=True,
                          n_threads=threads, n_threads_batch=threads, verbose=False)
    losses = []
    for window in windows:
        llm.reset()
        llm.eval(window)
        logits = np.asarray(llm.scores[:seqlen - 1], dtype=np.float64)
        top = logits.max(axis=1, keepdims=True)
        logsumexp = (top + np.log(np.exp(logits - top).sum(axis=1, keepdims=True)))[:, 0]
        targets = np.asarray(window[1:])
        nll = logsumexp - logits[np.arange(seqlen - 1), targets]
        losses.append(float(nll.mean()))
    return math.exp(sum(losses) / len(losses)), losses


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="+")
    parser.add_argument("--data", required=True)
    parser.add_argument("--seqlen", type=int, default=512)
    parser.add_argument("--max-windows", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dlp", default=".build/release/dlp")
    args = parser.parse_args()
    rows = []
    for model in args.models:
        ids = dlp_tokens(args.dlp, model, args.data)
        count = min(len(ids) // args.seqlen, args.max_windows)
        windows = [ids[i * args.seqlen:(i + 1) * args.seqlen] for i in range(count)]
        ppl, _ = llama_perplexity(model, windows, args.seqlen, args.threads)
        out = subprocess.run([args.dlp, "perplexity", model, "--dataset", f"wikitext2:{args.data}", "--seqlen", str(args.seqlen),
                              "--max-windows", str(args.max_windows), "--json"], check=True, capture_output=True, text=True)
        ours = json.loads(out.stdout)
        rows.append({"model": model, "windows": count, "llama_cpp": ppl, "dlp": ours["perplexity"],
                     "ratio": ours["perplexity"] / ppl})
    print(json.dumps({"llama_cpp_python": llama_cpp.__version__, "seqlen": args.seqlen, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
