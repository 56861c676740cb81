# The two entry points are `make demo` (the main job on the default model) and `make test`.
# Each installs what it needs first. OPENBLAS_CORETYPE is cleared for every recipe: a forced
# core type (this workplace exports Haswell) halves OpenBLAS's GEMM speed.
unexport OPENBLAS_CORETYPE
SHELL := /bin/bash
DLP_HOME ?= $(HOME)/.cache/dlp
export DLP_HOME
DLP := .build/release/dlp
# Assets the test suite reads: the default model and text data, the Qwen2 models, Gemma's
# vocabulary and the zero-shot task files.
TEST_ASSETS := default qwen qwen-large gemma zeroshot

.PHONY: demo test fuzz deps assets test-assets build bench clean

# The main job, short: prune SmolLM2-135M to 70% with Wanda + DLP (32 × 512 calibration tokens of
# C4), perplexity on PTB before and after, the report, then what the user gained: file sizes of
# each export and the original next to the pruned model generating text, with decode speeds.
# The full protocol is in the README.
DEMO_OUT := out/smollm2-135m-wanda-dlp70
demo: build assets
	$(DLP) inspect smollm2-135m
	$(DLP) prune smollm2-135m --method wanda --allocation dlp --sparsity 0.7 --samples 32 --seqlen 512 \
	    --evaluate ptb --eval-windows 16 --eval-seqlen 512 --formats gguf,safetensors,sparse --output $(DEMO_OUT) --force
	@echo; cat $(DEMO_OUT)/report.md
	@scripts/demo-payoff.sh $(DLP) $(DEMO_OUT)

# Tests run in parallel: no result depends on OpenBLAS's process-wide thread count (forward
# passes, training passes and SparseGPT cut their work by shape, and the tests of the count's own
# bookkeeping use instances of their own). They build with checks on (DLP_CHECKED=1: -O instead
# of -Ounchecked, so preconditions and bounds checks stay) in their own scratch path, leaving the
# product build in .build/release alone.
test: deps test-assets
	DLP_CHECKED=1 DLP_REQUIRE_ASSETS=1 swift test -c release --scratch-path .build/checked

# Fuzzing: each parser of untrusted input under libFuzzer + AddressSanitizer for FUZZ_SECONDS
# (default 60) in a separate build (.build/fuzz) that leaves the product's build alone.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := gguf safetensors json tokenizer-json sparse-matrix zeroshot-jsonl hf-config experiment-plan \
    safetensors-index sparse-checkpoint
fuzz: deps
	DLP_FUZZ=1 swift build -c release --sanitize=fuzzer --sanitize=address --scratch-path .build/fuzz --product dlp-fuzz
	scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

deps:
	@scripts/setup-deps.sh

assets:
	python3 scripts/assets.py default

test-assets:
	python3 scripts/assets.py $(TEST_ASSETS)

build: deps
	swift build -c release

bench: build assets
	$(DLP) bench gemm

clean:
	rm -rf .build
