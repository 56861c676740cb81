#!/usr/bin/env bash
# dlp's decode (dense and sparse, f32) next to llama.cpp's on the same F32 model.gguf of a `dlp prune`
# output, alternated ROUNDS times so both see the same machine state; prints decode tokens/s per
# run and the ratios of the medians. Reference only (not CI); needs the llama.cpp venv described in
# llamacpp_decode.py. Usage: scripts/reference/decode_side_by_side.sh OUT_DIR [THREADS] [ROUNDS] [CONTEXTS]
set -euo pipefail
unset OPENBLAS_CORETYPE
cd "$(dirname "$0")/../.."
out=$1; threads=${2:-2}; rounds=${3:-3}; contexts=${4:-128,512}
py=${LLAMA_PYTHON:-$HOME/.cache/dlp/venvs/llama-cpp/bin/python}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for r in $(seq "$rounds"); do
    .build/release/dlp bench decode "$out" --dtype f32 --context "$contexts" --tokens 32 --threads "$threads" --json \
        > "$tmp/dlp-$r.json" 2>/dev/null
    "$py" scripts/reference/llamacpp_decode.py "$out/model.gguf" --context "$contexts" --tokens 32 --threads "$threads" \
        > "$tmp/llama-$r.json"
done
python3 - "$tmp" "$rounds" <<'PY'
import json, statistics, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
dlp = [json.load(open(f"{tmp}/dlp-{r}.json")) for r in range(1, rounds + 1)]
llama = [json.load(open(f"{tmp}/llama-{r}.json")) for r in range(1, rounds + 1)]
print(f"CPU {dlp[0]['cpu']}, {dlp[0]['threads']} threads, {dlp[0]['generatedTokens']} tokens after each context; "
      f"memory read {', '.join('%.1f' % d['memoryReadGigabytesPerSecond'] for d in dlp)} GB/s")
for context in sorted({row['context'] for row in dlp[0]['rows']}):
    def runs(storage):
        return [row['decodeTokensPerSecond'] for d in dlp for row in d['rows'] if row['context'] == context and row['storage'] == storage]
    dense, sparse = runs('dense'), runs('sparse')
    ref = [row['decode_tokens_per_second'] for l in llama for row in l['rows'] if row['context'] == context]
    fmt = lambda xs: ' '.join('%.1f' % x for x in xs)
    md, ms, ml = statistics.median(dense), statistics.median(sparse), statistics.median(ref)
    print(f"context {context}: dlp dense {fmt(dense)} | dlp sparse {fmt(sparse)} | llama.cpp {fmt(ref)} tokens/s")
    print(f"  medians: dense/llama.cpp {md / ml:.2f}x, sparse/llama.cpp {ms / ml:.2f}x, sparse/dense {ms / md:.2f}x")
PY
