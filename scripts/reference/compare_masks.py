#!/usr/bin/env python3
"""Compares the masks of a `dlp prune --method wanda` output with the reference Wanda procedure.

Runs `dlp_reference.py`'s sequential Wanda pruning (transformers on CPU, fp32) on the same GGUF
model, the same calibration windows (exported by `dlp calibration`) and the per-block ratios that
dlp applied (read from DIR/manifest.json), then loads DIR/model.gguf with transformers' GGUF
loader and counts, per block and linear, the weights that are zero in one model and not in the
other; for weights kept by both it reports the largest |difference| (0 when dlp keeps weights
untouched, as Wanda does).

Usage:
  dlp calibration smollm2-135m --samples 8 --seqlen 512 --output /tmp/cal.json
  dlp prune smollm2-135m --method wanda --allocation dlp --samples 8 --seqlen 512 --formats gguf --output /tmp/p
  python3 scripts/reference/compare_masks.py --model ~/.cache/dlp/models/smollm2-135m.gguf \\
      --calibration /tmp/cal.json --pruned /tmp/p [--batch 4]
"""
import argparse, json, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch  # noqa: E402
from dlp_reference import Runner, wanda_prune, read_calibration, LINEARS  # noqa: E402
from forward_fixture import load  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--calibration", required=True)
    ap.add_argument("--pruned", required=True, help="a dlp prune output directory with model.gguf")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    manifest = json.loads((Path(args.pruned) / "manifest.json").read_text())
    if manifest["settings"]["method"] != "wanda" or manifest["settings"]["pattern"] != "unstructured":
        raise SystemExit("compare_masks.py handles unstructured Wanda outputs only")
    cal, windows = read_calibration(args.calibration)
    if cal["windows_sha256"] != manifest["calibration"]["windowsSHA256"]:
        raise SystemExit("the calibration file is not the one the pruned model was calibrated on")
    ratios = [b["requestedRatio"] for b in manifest["blocks"]]
    ref = load(Path(args.model).expanduser())
    ref.config.use_cache = False
    runner = Runner(ref, windows, args.batch)
    wanda_prune(runner, ratios, windows.shape[0])
    ours = load(Path(args.pruned) / "model.gguf")
    total, first = 0, None
    for l in range(len(ratios)):
        parts = []
        for n in LINEARS:
            a = ref.model.layers[l].get_submodule(n).weight.data
            b = ours.model.layers[l].get_submodule(n).weight.data
            d = int(((a == 0) != (b == 0)).sum())
            kept = (a != 0) & (b != 0)
            w = float((a[kept] - b[kept]).abs().max()) if kept.any() else 0.0
            total += d
            if d and first is None:
                first = (l, n)
            parts.append(f"{n.split('.')[-1]} {d} ({w:.1e})")
        print(f"block {l:2d}: " + ", ".join(parts))
    print(f"mask entries that differ: {total} of {manifest['model']['prunableParameters']}; "
          f"first difference: {first if first else 'none'}")


if __name__ == "__main__":
    main()
