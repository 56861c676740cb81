#!/usr/bin/env bash
# Runs each libFuzzer harness of .build/fuzz/release/dlp-fuzz for SECONDS: `scripts/fuzz.sh SECONDS
# TARGET...` (make fuzz builds the binary and calls this). Seeds: Fuzz/corpus/TARGET plus the test
# fixtures of that format; what the fuzzer learns is kept in .build/fuzz-corpus/TARGET between runs.
# A crash stops the run with its input under .build/fuzz-crashes/ and the command that replays it;
# it then becomes a regression test with the minimised input, and a fix.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=$1; shift
binary=.build/fuzz/release/dlp-fuzz
mkdir -p .build/fuzz-crashes
for target in "$@"; do
    corpus=.build/fuzz-corpus/$target
    mkdir -p "$corpus"
    seeds=()
    [ -d Fuzz/corpus/$target ] && seeds+=(Fuzz/corpus/$target)
    case $target in
        gguf) seeds+=(Tests/Fixtures/gguf) ;;
        safetensors) seeds+=(Tests/Fixtures/safetensors) ;;
    esac
    echo "== fuzz $target for ${seconds}s"
    # -detect_leaks=0: Foundation's FileManager.contents(atPath:) (swift-6.3.1) leaks a read buffer
    # on some inputs (LeakSanitizer traces it into FoundationEssentials.readBytesFromFile); out-of-
    # bounds reads, use after free and crashes are still caught.
    if ! ASAN_OPTIONS=detect_leaks=0 DLP_FUZZ_TARGET=$target "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
            -detect_leaks=0 \
            -artifact_prefix=.build/fuzz-crashes/$target- "$corpus" "${seeds[@]}" > .build/fuzz-crashes/$target.log 2>&1; then
        tail -40 .build/fuzz-crashes/$target.log
        echo "fuzz $target: crash; replay with: DLP_FUZZ_TARGET=$target $binary .build/fuzz-crashes/$target-crash-*" >&2
        exit 1
    fi
    grep -E "^Done|stat::number_of_executed_units|cov:" .build/fuzz-crashes/$target.log | tail -2
done
