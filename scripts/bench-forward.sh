#!/usr/bin/env bash
# Forward-pass speed of dlp next to transformers on CPU, on the same windows, one after the other
# in one run: `scripts/bench-forward.sh [MODEL] [WINDOWS] [THREADS]` (defaults smollm2-135m 2 2).
# Needs torch and transformers from PyPI (`pip install torch transformers`).
set -euo pipefail
unset OPENBLAS_CORETYPE
cd "$(dirname "$0")/.."
model=${1:-smollm2-135m}; windows=${2:-2}; threads=${3:-2}
dlp=.build/release/dlp
[ -x "$dlp" ] || swift build -c release
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# dlp bench forward runs the first windows of the tokenized C4 excerpt; give transformers the same ones.
python3 - "$model" "$windows" "$tmp" <<'PY'
import json, subprocess, sys
model, windows, tmp = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ids = json.loads(subprocess.check_output([".build/release/dlp", "tokenize", model, "--file",
      __import__("os").path.expanduser("~/.cache/dlp/data/c4.utf8"), "--no-special", "--json"]))["ids"]
json.dump({"windows": [ids[i * 2048:(i + 1) * 2048] for i in range(windows)]}, open(f"{tmp}/windows.json", "w"))
PY
echo "== dlp"
$dlp bench forward --model "$model" --windows "$windows" --threads "$threads"
echo "== transformers"
path=$model; [ -f "$path" ] || path="${DLP_HOME:-$HOME/.cache/dlp}/models/$model.gguf"
python3 scripts/reference/forward_speed.py --model "$path" --windows "$tmp/windows.json" --threads "$threads"
