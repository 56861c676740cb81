#!/usr/bin/env bash
# The quantized sparse runtime next to llama.cpp (issue: sparsity with quantization): dlp decodes a
# pruned model exported as Q4_0 and as Q8_0 GGUF from the files' own blocks (`--dtype q4_0|q8_0`,
# sparse and dense), llama.cpp decodes the same two files and the original (unpruned) GGUF, all
# alternated ROUNDS times so every side sees the same machine state; prints tokens/s per run and
# the ratios of the medians. Reference only (not CI); needs the llama.cpp venv described in
# llamacpp_decode.py.
# Usage: scripts/reference/quantized_side_by_side.sh Q4_0_GGUF Q8_0_GGUF ORIGINAL_GGUF [THREADS] [ROUNDS] [CONTEXT]
set -euo pipefail
unset OPENBLAS_CORETYPE
cd "$(dirname "$0")/../.."
q4=$1; q8=$2; original=$3; threads=${4:-2}; rounds=${5:-3}; context=${6:-128}
py=${LLAMA_PYTHON:-$HOME/.cache/dlp/venvs/llama-cpp/bin/python}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for r in $(seq "$rounds"); do
    .build/release/dlp bench decode "$q4" --dtype q4_0 --context "$context" --tokens 32 --threads "$threads" --json > "$tmp/dlp-q4-$r.json" 2>/dev/null
    .build/release/dlp bench decode "$q8" --dtype q8_0 --context "$context" --tokens 32 --threads "$threads" --json > "$tmp/dlp-q8-$r.json" 2>/dev/null
    for name in q4 q8 original; do
        "$py" scripts/reference/llamacpp_decode.py "${!name}" --context "$context" --tokens 32 --threads "$threads" > "$tmp/llama-$name-$r.json"
    done
done
python3 - "$tmp" "$rounds" <<'PY'
import json, statistics, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
def dlp(kind, storage):
    runs = [json.load(open(f"{tmp}/dlp-{kind}-{r}.json")) for r in range(1, rounds + 1)]
    return [row['decodeTokensPerSecond'] for d in runs for row in d['rows'] if row['storage'] == storage], runs[0]
def llama(name):
    return [row['decode_tokens_per_second'] for r in range(1, rounds + 1) for row in json.load(open(f"{tmp}/llama-{name}-{r}.json"))['rows']]
(q4s, first), (q4d, _), (q8s, first8), (q8d, _) = dlp('q4', 'sparse'), dlp('q4', 'dense'), dlp('q8', 'sparse'), dlp('q8', 'dense')
lq4, lq8, lo = llama('q4'), llama('q8'), llama('original')
fmt = lambda xs: ' '.join('%.1f' % x for x in xs)
m = statistics.median
print(f"CPU {first['cpu']}, {first['threads']} threads, {first['generatedTokens']} tokens after a {first['rows'][0]['context']}-token context")
for label, xs in [("dlp q4_0 sparse", q4s), ("dlp q4_0 dense", q4d), ("dlp q8_0 sparse", q8s), ("dlp q8_0 dense", q8d),
                  ("llama.cpp pruned Q4_0", lq4), ("llama.cpp pruned Q8_0", lq8), ("llama.cpp original", lo)]:
    print(f"  {label:24s} {fmt(xs)}  (median {m(xs):.1f} tokens/s)")
for kind, d in [("q4_0", first), ("q8_0", first8)]:
    rows = [row for row in d['rows'] if row['storage'] == 'sparse']
    print(f"  dlp {kind} sparse reads {rows[0]['weightBytesPerToken'] / 1e6:.1f} MB of weights per token")
print(f"q4_0 sparse / llama.cpp original: {m(q4s) / m(lo):.2f}x (target 1.3x)")
print(f"q4_0 sparse / llama.cpp pruned Q4_0: {m(q4s) / m(lq4):.2f}x (target 1.5x)")
print(f"q8_0 sparse / llama.cpp pruned Q8_0: {m(q8s) / m(lq8):.2f}x (target 1.5x)")
print(f"dlp sparse / dense: q4_0 {m(q4s) / m(q4d):.2f}x, q8_0 {m(q8s) / m(q8d):.2f}x")
PY
