# The two entry points are `make demo` (the main job on the default model) and `make test`.
# Each installs what it needs first. OPENBLAS_CORETYPE is cleared for every recipe: a forced
# core type (this workplace exports Haswell) halves OpenBLAS's GEMM speed.
unexport OPENBLAS_CORETYPE
SHELL := /bin/bash
DLP_HOME ?= $(HOME)/.cache/dlp
export DLP_HOME
DLP := .build/release/dlp
# Assets the test suite reads: the default model and text data, the Qwen2 models and Gemma's vocabulary.
TEST_ASSETS := default qwen qwen-large gemma

.PHONY: demo test deps assets test-assets build bench clean

demo: build assets
	$(DLP) inspect smollm2-135m
	$(DLP) bench gemm

test: deps test-assets
	DLP_REQUIRE_ASSETS=1 swift test -c release

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
