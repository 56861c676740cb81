#!/usr/bin/env bash
# `dlp prune` (Wanda + DLP) next to the released DLP passes run in transformers
# (prune_speed_reference.py) on the same calibration windows, one after the other, each under
# /usr/bin/time -v; prints wall time and peak RSS of each, their phase timings, the largest per-block
# ratio difference and the perplexities. dlp recomputes its allocation (--no-cache) and exports only
# model.gguf (its export time is listed apart). Reference only (not CI); needs the venv described in
# prune_speed_reference.py. Run it on a quiet machine: the two sides do not run at the same time.
# Usage: scripts/reference/prune_side_by_side.sh OUT_DIR [SAMPLES] [SEQLEN] [EVAL_WINDOWS] [THREADS] [PRECISIONS]
#   defaults 16 2048 16 2 "f32 bf16"; environment: MODEL (smollm2-135m), SPARSITY (0.7), ALPHA (0.15),
#   EVAL_T (2048), DLP (.build/release/dlp), PYTHON (~/.cache/dlp/venvs/peft/bin/python),
#   WIKITEXT (../shared/data/wikitext-2-raw/wiki.test.raw beside the repository), SIDES ("dlp reference";
#   "dlp" reruns only dlp and compares with the reference files already in OUT_DIR)
set -euo pipefail
unset OPENBLAS_CORETYPE
cd "$(dirname "$0")/../.."
out=$1; samples=${2:-16}; seqlen=${3:-2048}; windows=${4:-16}; threads=${5:-2}; precisions=${6:-f32 bf16}
model=${MODEL:-smollm2-135m}; sparsity=${SPARSITY:-0.7}; alpha=${ALPHA:-0.15}; eval_t=${EVAL_T:-2048}
dlp=${DLP:-.build/release/dlp}
py=${PYTHON:-$HOME/.cache/dlp/venvs/peft/bin/python}
wiki=${WIKITEXT:-$(cd .. && pwd)/shared/data/wikitext-2-raw/wiki.test.raw}
gguf=${DLP_HOME:-$HOME/.cache/dlp}/models/$model.gguf
mkdir -p "$out"
"$dlp" calibration "$model" --samples "$samples" --seqlen "$seqlen" --seed 0 --sampling stream \
    --output "$out/calibration.json" >&2
sides=${SIDES:-dlp reference}
for precision in $precisions; do
    if [[ " $sides " != *" dlp "* ]]; then echo "dlp prune, $precision: kept from an earlier run" >&2; else
    echo "dlp prune, $precision ..." >&2
    /usr/bin/time -v -o "$out/dlp-$precision.time" "$dlp" prune "$model" --method wanda --allocation dlp \
        --statistic median --sparsity "$sparsity" --alpha "$alpha" \
        --samples "$samples" --seqlen "$seqlen" --seed 0 --sampling stream --no-cache --threads "$threads" \
        --evaluate "wikitext2:$wiki" --eval-windows "$windows" --eval-seqlen "$eval_t" --precision "$precision" \
        --formats gguf --output "$out/dlp-$precision" --force > "$out/dlp-$precision.log" 2>&1
    fi
    if [[ " $sides " != *" reference "* ]]; then echo "reference, $precision: kept from an earlier run" >&2; continue; fi
    echo "reference, $precision ..." >&2
    /usr/bin/time -v -o "$out/reference-$precision.time" "$py" scripts/reference/prune_speed_reference.py \
        --model "$gguf" --calibration "$out/calibration.json" --sparsity "$sparsity" --alpha "$alpha" \
        --eval-windows "$windows" --eval-T "$eval_t" --wikitext "$wiki" --threads "$threads" --dtype "$precision" \
        --out "$out/reference-$precision.json" > "$out/reference-$precision.log" 2>&1
done
python3 - "$out" $precisions <<'PY'
import json, re, sys
out, precisions = sys.argv[1], sys.argv[2:]

def gnu_time(path):
    text = open(path).read()
    clock = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text).group(1)
    wall = 0.0
    for part in clock.split(":"):
        wall = wall * 60 + float(part)
    return wall, int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1)) / 1024

cal = json.load(open(f"{out}/calibration.json"))
for precision in precisions:
    m = json.load(open(f"{out}/dlp-{precision}/manifest.json"))
    r = json.load(open(f"{out}/reference-{precision}.json"))
    if m["calibration"]["windowsSHA256"] != cal["windows_sha256"] or r["calibration"]["windows_sha256"] != cal["windows_sha256"]:
        sys.exit(f"{precision}: the two sides did not calibrate on the same windows")
    (dw, dm), (rw, rm) = gnu_time(f"{out}/dlp-{precision}.time"), gnu_time(f"{out}/reference-{precision}.time")
    dt, rt = m["timings"], r["timings_s"]
    ev, re_ = m["evaluation"][0], r["evaluation"]
    print(f"{precision}: {r['cpu']['model_name']}, {r['threads']} threads; calibration {r['calibration']['samples']} × "
          f"{r['calibration']['sequence_length']} (windows sha256 {cal['windows_sha256'][:12]}…); "
          f"WikiText-2 {ev['windows']} × {ev['sequenceLength']}")
    print(f"  dlp prune  wall {dw:7.1f} s, peak RSS {dm:6.0f} MiB | " + ", ".join(
        f"{k} {dt[k]:.1f}" for k in ["model digest", "calibration", "evaluation (dense)", "allocation pass", "pruning pass",
                                     "evaluation (pruned)", "export", "total"] if k in dt) + " s")
    print(f"  reference  wall {rw:7.1f} s, peak RSS {rm:6.0f} MiB | " + ", ".join(f"{k} {v:.1f}" for k, v in rt.items()) + " s")
    print(f"  reference / dlp: wall {rw / dw:.2f}x, peak RSS {rm / dm:.2f}x, allocation pass "
          f"{rt['allocation_pass'] / dt['allocation pass']:.2f}x, pruning pass {rt['pruning_pass'] / dt['pruning pass']:.2f}x")
    diff = max(abs(b["ratio"] - mb["requestedRatio"]) for b, mb in zip(r["blocks"], m["blocks"]))
    print(f"  per-block ratios: largest |dlp - reference| {diff:.2g}; global sparsity dlp {m['overallSparsity']:.6f}, "
          f"reference {r['global_sparsity']:.6f}")
    print(f"  perplexity dense: dlp {ev['densePerplexity']:.3f}, reference {re_['dense_ppl']:.3f}; "
          f"pruned: dlp {ev['prunedPerplexity']:.3f}, reference {re_['pruned_ppl']:.3f}")
PY
