#!/usr/bin/env python3
"""transformers' CPU forward speed on the same windows `dlp bench forward` runs, for a side-by-side
figure (see scripts/bench-forward.sh).

Reads windows exported by `dlp calibration` (JSON with a "windows" list of token-id lists), runs
the same full forward pass as `dlp bench forward` (all blocks, final norm, LM head, log-softmax
NLL of every next token) with torch in fp32 on `--threads` threads, and prints one JSON line:
tokens/s, seconds, peak RSS, torch and transformers versions.

Usage: python3 scripts/reference/forward_speed.py --model ~/.cache/dlp/models/smollm2-135m.gguf \\
           --windows windows.json [--threads 2]
"""
import argparse, json, os, resource, sys, time
from pathlib import Path

os.environ.pop("OPENBLAS_CORETYPE", None)

import torch
import transformers

sys.path.insert(0, str(Path(__file__).resolve().parent))
from forward_fixture import load, window_nll  # noqa: E402  (same repository)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, type=Path)
    ap.add_argument("--windows", required=True, type=Path)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    windows = json.loads(args.windows.read_text())["windows"]
    model = load(args.model)
    with torch.inference_mode():
        window_nll(model, windows[0][:64])  # warm-up
        start = time.perf_counter()
        nll = [window_nll(model, w) for w in windows]
        seconds = time.perf_counter() - start
    tokens = sum(len(w) for w in windows)
    print(json.dumps({
        "implementation": "transformers", "torch": torch.__version__, "transformers": transformers.__version__,
        "threads": args.threads, "windows": len(windows), "tokens": tokens, "seconds": round(seconds, 3),
        "tokens_per_second": round(tokens / seconds, 1), "mean_nll": sum(nll) / len(nll),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    main()
