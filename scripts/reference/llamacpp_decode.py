#!/usr/bin/env python3
"""llama.cpp's decode speed on a GGUF, measured the way `dlp bench decode` measures its own: a
prompt of CONTEXT seeded random token ids is evaluated (prefill tokens/s), then TOKENS tokens are
generated greedily one at a time (decode tokens/s); the faster of two runs. Reference only (not
CI): the side-by-side of the sparse-runtime issue. llama.cpp runs every tensor as stored, so give
it the F32 (or F16) `model.gguf` of a `dlp prune` output to compare with `dlp bench decode --dtype
f32` (or f16) on the same weights.

Setup (builds llama.cpp from the PyPI source distribution, several minutes on 2 cores):
    python3 -m venv ~/.cache/dlp/venvs/llama-cpp
    ~/.cache/dlp/venvs/llama-cpp/bin/pip install --no-binary llama-cpp-python "llama-cpp-python==0.3.*"
Usage:
    ~/.cache/dlp/venvs/llama-cpp/bin/python scripts/reference/llamacpp_decode.py MODEL.gguf \
        [--context 128,512] [--tokens 32] [--threads 2]
Prints one JSON object.
"""
import argparse, json, os, platform, random, time

os.environ.pop("OPENBLAS_CORETYPE", None)

import llama_cpp
import numpy as np


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--context", default="128,512")
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    contexts = [int(c) for c in args.context.split(",")]
    llm = llama_cpp.Llama(model_path=args.model, n_ctx=max(contexts) + args.tokens + 8, n_threads=args.threads,
                          n_threads_batch=args.threads, n_batch=512, logits_all=False, verbose=False)
    vocabulary = llm.n_vocab()
    rng = random.Random(1)
    rows = []
    for context in contexts:
        prompt = [rng.randrange(vocabulary) for _ in range(context)]
        best = None
        for _ in range(2):
            llm.reset()
            t0 = time.perf_counter()
            llm.eval(prompt)
            t1 = time.perf_counter()
            for _ in range(args.tokens):
                # The last position's logits, read from the context (Llama.scores holds them only
                # with logits_all, which would also run the LM head over the whole prompt).
                logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1), shape=(vocabulary,))
                llm.eval([int(logits.argmax())])
            t2 = time.perf_counter()
            run = {"context": context, "prefill_tokens_per_second": context / (t1 - t0),
                   "decode_tokens_per_second": args.tokens / (t2 - t1)}
            if best is None or run["decode_tokens_per_second"] > best["decode_tokens_per_second"]:
                best = run
        rows.append(best)
    print(json.dumps({"model": args.model, "llama_cpp_python": llama_cpp.__version__, "threads": args.threads,
                      "machine": platform.processor() or platform.machine(), "generated_tokens": args.tokens,
                      "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
