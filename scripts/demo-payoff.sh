#!/usr/bin/env bash
# The second half of `make demo`: what pruning gained the user. File sizes of the original model
# and of each export, then the same chat prompt answered by the original model (dense) and by the
# pruned one read from its compressed sparse/ export (sparse kernels), each with its decode speed,
# then the decode benchmark of the pruned weights dense vs sparse in f32 and on the Q4_0 grid.
# Usage: scripts/demo-payoff.sh DLP OUTPUT_DIR [MODEL]
set -euo pipefail
dlp=$1; out=$2; model=${3:-smollm2-135m}
original="${DLP_HOME:-$HOME/.cache/dlp}/models/$model.gguf"
size() { stat -c %s "$1"; }
mb() { awk -v b="$1" 'BEGIN { printf "%7.1f MB", b / 1e6 }'; }
echo
echo "== what you got: files"
printf '  %-44s %s\n' "original $model.gguf (Q4_1)" "$(mb "$(size "$original")")"
printf '  %-44s %s\n' "pruned model.gguf (F32; llama.cpp runs it)" "$(mb "$(size "$out/model.gguf")")"
printf '  %-44s %s\n' "pruned hf/model.safetensors (F32)" "$(mb "$(size "$out/hf/model.safetensors")")"
if [ -f "$out/sparse/model.safetensors" ]; then
    printf '  %-44s %s   (compressed-tensors sparse-bitmask, bf16; %s)\n' "pruned sparse/model.safetensors" \
        "$(mb "$(size "$out/sparse/model.safetensors")")" \
        "$(awk -v s="$(size "$out/sparse/model.safetensors")" -v d="$(size "$out/hf/model.safetensors")" \
            'BEGIN { printf "%.2f× the dense F32 file, %.2f× dense bf16", s / d, s / (d / 2) }')"
fi
prompt="What is the capital of France?"
echo
echo "== what you got: speed (dlp generate --chat \"$prompt\", greedy, 48 tokens at most)"
echo "-- original model, dense f32:"
"$dlp" generate "$model" --chat --prompt "$prompt" --temperature 0 --max-tokens 48 --sparse off
echo "-- pruned 70% (Wanda + DLP), sparse/ export, sparse kernels, f32:"
"$dlp" generate "$out/sparse" --chat --prompt "$prompt" --temperature 0 --max-tokens 48
echo
echo "(A 135M-parameter model pruned to 70% without fine-tuning has lost most of its fluency. Speeds"
echo " of one short generation are rough; the pruned weights dense vs sparse, measured properly:)"
"$dlp" bench decode "$out" --context 128 --tokens 32 --dtype f32,q4_0 2>/dev/null | sed -n '1,7p'
echo "(q4_0: the same weights on ggml's 4-bit grid, one scale per 32, as llama.cpp's Q4_0; the LM head Q8_0.)"
