#!/usr/bin/env python3
"""Golden forward-pass fixtures for the fp32 decoder, computed with Hugging Face transformers on CPU.

transformers loads the SAME GGUF file (`from_pretrained(dir, gguf_file=name, dtype=float32)`),
dequantizing every tensor to fp32 ("dense" = the dequantized model). This is an implementation
independent of the Swift code: its own GGUF reader/dequantizer (the `gguf` package), its own
LLaMA/Qwen2 modelling code.

Token ids come from the reference tokenizer of `tokenizer_fixture.py` (HF `tokenizers` rebuilt from
the GGUF vocabulary; verified identical to the Swift tokenizer), not from transformers' GGUF
tokenizer conversion, and the ids are stored in the fixture so the Swift test does not tokenize.

Steps per model:
1. Weight check: every GGUF tensor, dequantized with `gguf.quants.dequantize`, is compared with the
   transformers parameter it maps to (llama q/k rows un-permuted back to the halves RoPE layout);
   the maximum absolute difference is recorded (expected 0). A tied output (no `output.weight`) is
   checked as `lm_head.weight is embed_tokens.weight` (same values).
2. Logits: a few short prompts plus the first 128 tokens of WikiText-2 test. Per position: max
   logit, argmax, log-softmax of the next token, logits at fixed probe ids, L2 norm of the final
   hidden state before and after the final RMSNorm.
3. Perplexity (WikiText-2 test, non-empty lines joined by "\\n\\n", tokenized once, no BOS,
   non-overlapping windows of T tokens, remainder dropped, NLL of tokens 1..T-1 of each window given
   the window prefix, ppl = exp(mean over windows of the window mean NLL), sums in float64):
   the first 4 windows at T=512 always; the whole file at T=2048 with `--full`.

Usage:
  OMP_NUM_THREADS=2 python3 scripts/reference/forward_fixture.py [--models a,b] [--full] [--threads 2]
  python3 scripts/reference/forward_fixture.py --ppl-only --full --models qwen2.5-coder-1.5b \\
      --out Tests/Fixtures/forward/ppl-qwen2.5-coder-1.5b.json

Outputs `Tests/Fixtures/forward/<model>.json` (existing `wikitext2_full` results for the same GGUF
sha256 are kept when `--full` is not given).
"""
import argparse, hashlib, json, math, os, platform, subprocess, sys, tempfile, time
from pathlib import Path

os.environ.pop("OPENBLAS_CORETYPE", None)
os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np
import torch
import transformers
import gguf
from gguf.quants import dequantize
from transformers import AutoModelForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tokenizer_fixture import read_gguf, byte_level  # noqa: E402  (same repository)

ROOT = Path(__file__).resolve().parents[2]
HOME = Path(os.environ.get("DLP_HOME", Path.home() / ".cache/dlp"))
WIKI = ROOT.parent / "shared/data/wikitext-2-raw/wiki.test.raw"
OUT = ROOT / "Tests/Fixtures/forward"

PROMPTS = ["The capital of France is", "In 1969, 3 astronauts", "def fib(n):"]
WIKI_PROMPT_TOKENS = 128
SLICE_T, SLICE_WINDOWS = 512, 4
FULL_T = 2048


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def wiki_text():
    return "\n\n".join(l for l in WIKI.read_text(encoding="utf-8").split("\n") if l)


def load(path):
    # The tokenizer is not needed from transformers (and its GGUF conversion is not faithful for SmolLM).
    return AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                dtype=torch.float32).eval()


# ---------------------------------------------------------------------------------------------
# 1. weights

def unpermute(w, n_head):
    """Undo llama.cpp's convert permutation of q/k rows (halves RoPE -> interleaved RoPE)."""
    out, inp = w.shape
    return w.reshape(n_head, out // n_head // 2, 2, inp).swapaxes(1, 2).reshape(out, inp)


HF_NAMES = {
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
}


def hf_name(gname):
    if gname == "token_embd.weight":
        return "model.embed_tokens.weight"
    if gname == "output_norm.weight":
        return "model.norm.weight"
    if gname == "output.weight":
        return "lm_head.weight"
    parts = gname.split(".")  # blk.N.kind.weight|bias
    assert parts[0] == "blk", gname
    return f"model.layers.{parts[1]}.{HF_NAMES[parts[2]]}.{parts[3]}"


def check_weights(model, path, arch):
    r = gguf.GGUFReader(str(path))
    cfg = model.config
    params = dict(model.named_parameters(remove_duplicate=False))
    worst, report, permuted_equal = 0.0, {}, None
    for t in r.tensors:
        ref = dequantize(t.data, t.tensor_type).astype(np.float32)
        shape = tuple(int(x) for x in reversed(t.shape.tolist()))  # GGUF lists dims fastest-first
        ref = ref.reshape(shape)
        kind = t.name.split(".")[2] if t.name.startswith("blk.") else None
        if arch == "llama" and kind in ("attn_q", "attn_k") and t.name.endswith(".weight"):
            n = cfg.num_attention_heads if kind == "attn_q" else cfg.num_key_value_heads
            raw = ref
            ref = unpermute(ref, n)
            if t.name == "blk.0.attn_q.weight":
                hf = params[hf_name(t.name)].detach().numpy()
                permuted_equal = bool(np.array_equal(raw, hf))
        hf = params[hf_name(t.name)].detach().numpy()
        if hf.shape != ref.shape:
            raise SystemExit(f"{path.name}: {t.name} shape {ref.shape} vs transformers {hf.shape}")
        d = float(np.max(np.abs(hf - ref))) if ref.size else 0.0
        worst = max(worst, d)
        report[t.name] = d
    names = {t.name for t in r.tensors}
    tied = "output.weight" not in names
    if tied:
        emb, head = params["model.embed_tokens.weight"], params["lm_head.weight"]
        d = float((emb - head).abs().max().detach())
        same = emb.data_ptr() == head.data_ptr()
        worst = max(worst, d)
        report["lm_head.weight (tied to token_embd.weight)"] = d
        print(f"  lm_head shares storage with embed_tokens: {same}", file=sys.stderr)
    first = {k: report[k] for k in ("blk.0.attn_q.weight", "blk.0.attn_k.weight")}
    print(f"  weights: {len(names)} GGUF tensors compared, max |diff| = {worst:g}; blk.0 q/k: {first};"
          f" tied={tied}; raw GGUF q rows equal transformers q rows: {permuted_equal}", file=sys.stderr)
    if worst != 0.0:
        bad = {k: v for k, v in report.items() if v != 0.0}
        print(f"  nonzero diffs: {bad}", file=sys.stderr)
    return {"tensors_compared": len(names), "max_abs_diff": worst, "tied_output": tied,
            "llama_qk_unpermuted": arch == "llama",
            "raw_gguf_q_rows_equal_hf": permuted_equal,
            "blk0_q_max_abs_diff": first["blk.0.attn_q.weight"],
            "blk0_k_max_abs_diff": first["blk.0.attn_k.weight"]}


# ---------------------------------------------------------------------------------------------
# 2. logits

def r7(x):
    return float(f"{float(x):.7g}")


def probe_ids(vocab):
    return list(range(16)) + [int(vocab * (k + 0.5) / 16) for k in range(16)]


@torch.inference_mode()
def logits_case(model, name, ids, probes):
    pre = {}
    hook = model.model.norm.register_forward_hook(lambda m, i, o: pre.__setitem__("h", i[0]))
    out = model(torch.tensor([ids]), output_hidden_states=True)
    hook.remove()
    logits = out.logits[0].float()                      # [T, V]
    post = out.hidden_states[-1][0]                     # after the final RMSNorm
    lsm = torch.log_softmax(logits.double(), dim=-1)
    mx, am = logits.max(dim=-1)
    top2 = logits.topk(2, dim=-1).values
    t = len(ids)
    return {
        "name": name, "ids": ids,
        "logit_max": [r7(v) for v in mx], "argmax": [int(v) for v in am],
        "top2_gap": [r7(a - b) for a, b in top2],
        "logsumexp": [r7(v) for v in torch.logsumexp(logits.double(), dim=-1)],
        "next_logprob": [r7(lsm[i, ids[i + 1]]) for i in range(t - 1)],
        "probe_logits": [[r7(v) for v in logits[i, probes]] for i in range(t)],
        "hidden_norm_pre": [r7(v) for v in pre["h"][0].norm(dim=-1)],
        "hidden_norm_post": [r7(v) for v in post.norm(dim=-1)],
    }


# ---------------------------------------------------------------------------------------------
# 3. perplexity

@torch.inference_mode()
def window_nll(model, window, chunk=256):
    """Mean NLL (nats) of tokens 1..T-1 of one window, logits computed chunkwise, summed in float64."""
    h = model.model(torch.tensor([window])).last_hidden_state[0]   # [T, H], after the final norm
    tgt = torch.tensor(window[1:])
    total = 0.0
    for s in range(0, len(window) - 1, chunk):
        e = min(s + chunk, len(window) - 1)
        lg = model.lm_head(h[s:e]).float()
        nll = torch.logsumexp(lg, dim=-1) - lg.gather(1, tgt[s:e, None])[:, 0]
        total += float(nll.double().sum())
    return total / (len(window) - 1)


def perplexity(model, ids, T, max_windows=None, label="", checkpoint=None):
    """Perplexity over the first `max_windows` (default all) windows; `checkpoint(partial)` every 10 windows."""
    n = len(ids) // T
    if max_windows is not None:
        n = min(n, max_windows)
    nlls, t0 = [], time.time()

    def summary():
        k, el = len(nlls), time.time() - t0
        return {"T": T, "windows": k, "windows_total": len(ids) // T, "tokens_evaluated": k * T,
                "predicted_tokens": k * (T - 1), "mean_nll": sum(nlls) / k, "ppl": math.exp(sum(nlls) / k),
                "window_mean_nll": [float(f"{x:.10g}") for x in nlls],
                "seconds": round(el, 1), "tokens_per_second": round(k * T / el, 1), "load_average": uptime()}

    for w in range(n):
        nlls.append(window_nll(model, ids[w * T:(w + 1) * T]))
        if label and (w + 1) % 10 == 0 and w + 1 < n:
            s = summary()
            print(f"  {label} T={T}: {w + 1}/{n} windows, running ppl {s['ppl']:.4f},"
                  f" {s['tokens_per_second']} tok/s", file=sys.stderr)
            if checkpoint:
                checkpoint(s)
    return summary()


def uptime():
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


# ---------------------------------------------------------------------------------------------

def header(name, path, sha):
    return {"model": name, "gguf": f"models/{name}.gguf", "gguf_sha256": sha,
            "generator": "scripts/reference/forward_fixture.py",
            "versions": {"python": platform.python_version(), "torch": torch.__version__,
                         "transformers": transformers.__version__, "gguf": gguf_version(),
                         "numpy": np.__version__},
            "threads": torch.get_num_threads(),
            "dtype": "float32 (every GGUF tensor dequantized to fp32 by transformers' GGUF loader)",
            "tokenizer": "HF tokenizers rebuilt from the GGUF vocabulary (scripts/reference/tokenizer_fixture.py),"
                         " add_special_tokens=True (no BOS for these models); ids stored below"}


def gguf_version():
    try:
        from importlib.metadata import version
        return version("gguf")
    except Exception:
        return "?"


PPL_PROTOCOL = ("WikiText-2 raw test: non-empty lines joined by \"\\n\\n\", tokenized once (no BOS); "
                "non-overlapping windows of T tokens from the start, remainder dropped; each window is an "
                "independent sequence (positions 0..T-1); window NLL = mean over t=0..T-2 of "
                "-log softmax(logits[t])[id[t+1]] (natural log); ppl = exp(mean over windows of window NLL); "
                "sums in float64")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="smollm2-135m,qwen2.5-coder-0.5b")
    ap.add_argument("--full", action="store_true", help="also the whole WikiText-2 test at T=2048")
    ap.add_argument("--max-windows", type=int, default=None, help="limit the --full run (timing only)")
    ap.add_argument("--ppl-only", action="store_true", help="skip weights/logits/slice; needs --out")
    ap.add_argument("--out", default=None)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    text = wiki_text()
    OUT.mkdir(parents=True, exist_ok=True)

    for name in args.models.split(","):
        path = HOME / f"models/{name}.gguf"
        sha = sha256(path)
        v = read_gguf(path)
        tok = byte_level(v)
        arch = gguf.GGUFReader(str(path)).fields["general.architecture"]
        arch = bytes(arch.parts[arch.data[0]]).decode()
        print(f"{name}: arch {arch}, sha256 {sha}", file=sys.stderr)
        t0 = time.time()
        model = load(path)
        print(f"  loaded in {time.time() - t0:.1f} s", file=sys.stderr)
        ids = tok.encode(text, add_special_tokens=True).ids
        dst = Path(args.out) if args.out else OUT / f"{name}.json"
        old = json.loads(dst.read_text()) if dst.exists() else {}
        if old.get("gguf_sha256") != sha:
            old = {}
        fx = header(name, path, sha)
        c = model.config
        fx["hf_config"] = {k: getattr(c, k, None) for k in (
            "model_type", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
            "num_key_value_heads", "head_dim", "vocab_size", "rms_norm_eps", "max_position_embeddings",
            "tie_word_embeddings", "hidden_act", "attention_bias", "_attn_implementation")}
        fx["hf_config"]["rope"] = getattr(c, "rope_parameters", None) or {"rope_theta": getattr(c, "rope_theta", None)}
        fx["ppl_protocol"] = PPL_PROTOCOL
        fx["wikitext2_token_count"] = len(ids)

        if not args.ppl_only:
            fx["weights_check"] = check_weights(model, path, arch)
            vocab = model.config.vocab_size
            probes = probe_ids(vocab)
            fx["logits"] = {
                "description": "per case: ids = input token ids (one sequence, positions 0..n-1, no BOS); per "
                               "position i: logit_max[i] = max_v logits[i,v], argmax[i] (lowest index on ties), "
                               "top2_gap[i] = largest minus second-largest logit (argmax is ambiguous below the "
                               "comparison tolerance), "
                               "logsumexp[i] = log sum_v exp(logits[i,v]), next_logprob[i] = log_softmax(logits[i])"
                               "[ids[i+1]] for i < n-1 (nats), probe_logits[i][j] = logits[i, probe_ids[j]], "
                               "hidden_norm_pre[i] = L2 norm of the residual stream after the last block (input of "
                               "the final RMSNorm), hidden_norm_post[i] = L2 norm after the final RMSNorm (input "
                               "of the output projection). Floats rounded to 7 significant digits.",
                "vocab_size": vocab, "probe_ids": probes, "cases": []}
            for i, p in enumerate(PROMPTS):
                fx["logits"]["cases"].append(logits_case(model, f"prompt{i}: {p}", tok.encode(p).ids, probes))
            fx["logits"]["cases"].append(
                logits_case(model, f"wikitext2 test first {WIKI_PROMPT_TOKENS} tokens", ids[:WIKI_PROMPT_TOKENS], probes))
            for c in fx["logits"]["cases"]:
                print(f"  {c['name']!r}: {len(c['ids'])} tokens, argmax[-1]={c['argmax'][-1]}", file=sys.stderr)
            s = perplexity(model, ids, SLICE_T, SLICE_WINDOWS)
            fx["wikitext2_slice"] = s
            print(f"  slice T={SLICE_T} x{s['windows']}: ppl {s['ppl']:.4f}, {s['tokens_per_second']} tok/s",
                  file=sys.stderr)

        if args.full:
            def checkpoint(partial):
                fx["wikitext2_full"] = dict(partial, complete=False)
                dst.write_text(json.dumps(fx, separators=(",", ":"), ensure_ascii=False) + "\n", encoding="utf-8")

            full = perplexity(model, ids, FULL_T, args.max_windows, label=name, checkpoint=checkpoint)
            full["complete"] = full["windows"] == full["windows_total"]
            fx["wikitext2_full"] = full
            print(f"  full T={FULL_T}: {full['windows']} windows, ppl {full['ppl']:.4f},"
                  f" {full['tokens_per_second']} tok/s ({full['load_average']})", file=sys.stderr)
        elif "wikitext2_full" in old:
            fx["wikitext2_full"] = old["wikitext2_full"]

        dst.write_text(json.dumps(fx, separators=(",", ":"), ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"  wrote {dst} ({dst.stat().st_size} bytes)", file=sys.stderr)
        del model


if __name__ == "__main__":
    main()
