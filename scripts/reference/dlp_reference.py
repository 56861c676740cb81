#!/usr/bin/env python3
"""Independent reference for the project's layerwise pruning: DLP and OWL allocations, Wanda pruning.

A re-implementation, in this script's own code, of the procedure of the released PyTorch code of
DLP (ironartisan/DLP: `get_dlp_ratios`, `get_owl_ratios`, `prune_wanda`, `prune_wanda_dlp`,
`prune_wanda_outlier`, which build on Wanda's `WrappedGPT` and OWL's `check_outlier_mean`),
run with Hugging Face transformers on CPU on a GGUF model dequantized to fp32.

Procedure (as in the reference):

* Calibration: the windows exported by `dlp calibration ... --output FILE.json` (not resampled
  here), checked against their `windows_sha256` (sha256 of the ids as little-endian int32, window
  after window). Each window is one sequence; no BOS is added.
* Allocation pass, on the DENSE model, sequential: the embeddings of the windows go through block
  0, 1, ...; block l's linears see the outputs of the dense blocks 0..l-1 (the reference's
  `get_dlp_ratios` / `get_owl_ratios` never modify weights: they run every block twice, once with
  hooks and once to produce the next inputs, both dense, so one run is enough here).
  For every linear of block l (q, k, v, o, gate, up, down) the squared input norm per input
  feature is accumulated: `s_j = sum over all calibration tokens of x_j^2 / N_sequences`.
  (Wanda's `WrappedGPT.add_batch` keeps a running average over sequences in float32:
  `s *= n/(n+b); n += b; s += ||x_j||^2 / n`, which equals the formula above up to rounding;
  here the sum is accumulated in float64 and divided by N once at the end.)
  Scores `A_ij = |W_ij| * sqrt(s_j)` (float32, as the reference), pooled over the 7 linears of the
  block; statistics: mean (float64 sum / count), median (torch.median: the lower middle value,
  exact), OWL outlier ratio `D_l = 100 * #{A > M * mean(A)} / numel` (M = 5).
* DLP ratios: `I = 1 - S/sum(S)`, `d = (I - min I)/(max I - min I) * 2 alpha`,
  `R = p + mean(d) - d` (the reference returns densities `d - mean(d) + 1 - p`, the pruners use
  `1 - density`); once with S = mean (released code) and once with S = median (paper).
  OWL ratios: `v = (D - min D)/(max D - min D) * 2 lambda`, `R = p + mean(v) - v`.
  The reference floors a ratio <= 0 to 0.01 and has no cap at 1; `applied_ratio` records that.
  Ratio arithmetic is float64 here (the reference: float32 for DLP, float64 for OWL).
* Pruning pass (Wanda, unstructured, per output row), sequential on the PRUNED model: for block
  l, run the block (still dense) on inputs from the already pruned blocks 0..l-1 with hooks,
  score every linear, zero in every row the `int(in * R_l)` lowest scores (stable ascending sort:
  ties go to the lower column index), then re-run the now pruned block to make block l+1's
  inputs. Same calibration windows as the allocation pass.
* Evaluation: WikiText-2 test perplexity, protocol of forward_fixture.py (PPL_PROTOCOL there),
  first `--eval-windows` windows of 2048 tokens.

Output JSON (floats to 9 significant digits unless noted):
  generator, model, gguf_sha256, versions, threads, dtype, model_config
  calibration: {settings (as exported), source_sha256, windows_sha256, samples, sequence_length}
  settings: {sparsity, alpha, owl_M, owl_lambda, pruner}; procedure: the choices above, in words
  blocks[l]: {index, numel (pooled scores), mean, mean_float32, median, max, std, outliers,
              outliers_float32_threshold, owl_outlier_ratio (percent),
              linears: {name: {shape [out, in], score_sum, s_sum, s_max, dead_inputs}}}
  allocations.{uniform, dlp_mean, dlp_median, owl}: {ratios[l] (sparsity of block l), applied_by_reference,
              reference_floor_triggered, above_one, min, max, mean, argmin, argmax,
              pruned_per_row: {in: [int(in * R_l)]}, target}
  timings_s: {load, allocation_pass}; peak_rss_mib (getrusage maxrss, whole process);
  load_average_start / load_average_after_allocation (`uptime`)
  with pruning: evaluation {dataset, protocol, T, windows, windows_total, token_count} and
  results.{dense, uniform, dlp_median, owl, dlp_mean}: {ppl, mean_nll (full precision),
              window_mean_nll, evaluation_s, load_average, and for pruned models pruning_pass_s,
              block_sparsity[l] (zeros / numel over the 7 linears), global_sparsity}

Usage:
  python3 scripts/reference/dlp_reference.py --model ~/.cache/dlp/models/smollm2-135m.gguf \\
      --calibration /tmp/cal-8x512.json --sparsity 0.7 --alpha 0.15 --no-prune \\
      --out Tests/Fixtures/pruning/reference-smollm2-135m-8x512.json
  python3 scripts/reference/dlp_reference.py --model ~/.cache/dlp/models/smollm2-135m.gguf \\
      --calibration /tmp/cal-32x2048.json --sparsity 0.7 --alpha 0.15 --eval-windows 32 \\
      --out Tests/Fixtures/pruning/reference-smollm2-135m-32x2048.json
  python3 scripts/reference/dlp_reference.py --model ~/.cache/dlp/models/qwen2.5-coder-0.5b.gguf \\
      --calibration /tmp/qwen-cal-8x512.json --sparsity 0.7 --alpha 0.15 --eval-windows 8 \\
      --allocations dense,uniform,dlp_median,owl \\
      --out Tests/Fixtures/pruning/reference-qwen2.5-coder-0.5b-8x512-wanda.json
  (the calibration files come from `dlp calibration MODEL --samples 8 --seqlen 512 --output FILE`;
  transformers needs `accelerate` to read a GGUF file)
"""
import argparse, hashlib, json, math, os, platform, resource, sys, time
from pathlib import Path

os.environ.pop("OPENBLAS_CORETYPE", None)
os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np
import torch
import torch.nn as nn
import transformers

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tokenizer_fixture import read_gguf, byte_level  # noqa: E402  (same repository)
from forward_fixture import load, sha256, wiki_text, window_nll, uptime, gguf_version, PPL_PROTOCOL  # noqa: E402

LINEARS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def peak_rss_mib():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def r9(x):
    return float(f"{float(x):.9g}")


# ---------------------------------------------------------------------------------------------
# calibration windows and block-by-block execution

def read_calibration(path):
    cal = json.loads(Path(path).read_text())
    ids = np.asarray(cal["windows"], dtype="<i4")
    digest = hashlib.sha256(ids.tobytes()).hexdigest()
    if digest != cal["windows_sha256"]:
        raise SystemExit(f"{path}: windows sha256 {digest} does not match the recorded {cal['windows_sha256']}")
    return cal, torch.from_numpy(ids.astype(np.int64))


class Runner:
    """Runs the decoder blocks one at a time on the calibration windows (batches of `batch`)."""

    def __init__(self, model, windows, batch):
        self.model, self.batch = model, batch
        self.layers = model.model.layers
        captured = {}

        class Catcher(nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, hidden, *args, **kwargs):
                captured["hidden"], captured["kwargs"] = hidden, kwargs
                raise StopIteration

        first = self.layers[0]
        self.layers[0] = Catcher(first)
        hidden = []
        try:
            for s in range(0, len(windows), batch):
                try:
                    model.model(windows[s:s + batch], use_cache=False)
                except StopIteration:
                    pass
                hidden.append(captured["hidden"].detach())
        finally:
            self.layers[0] = first
        self.hidden = torch.cat(hidden)                     # [N, T, H] inputs of block 0
        kw = dict(captured["kwargs"])
        kw.pop("cache", None); kw.pop("past_key_values", None)
        kw["use_cache"] = False
        self.kwargs = kw                                    # attention mask (None: causal), RoPE cos/sin, positions

    @torch.inference_mode()
    def run_block(self, l, hidden, hooks=None):
        """Outputs of block l for every window; `hooks[name](x)` sees each linear's input [b, T, in]."""
        layer = self.layers[l]
        handles = []
        if hooks:
            for name, fn in hooks.items():
                handles.append(layer.get_submodule(name).register_forward_hook(
                    lambda _m, inp, _out, fn=fn: fn(inp[0])))
        try:
            outs = []
            for s in range(0, hidden.shape[0], self.batch):
                o = layer(hidden[s:s + self.batch], **self.kwargs)
                outs.append(o[0] if isinstance(o, tuple) else o)
        finally:
            for h in handles:
                h.remove()
        return torch.cat(outs)


def input_scalers(runner, l, hidden, n_seq):
    """Runs block l on `hidden` with hooks; returns (outputs, {linear: s}) with s_j = sum x_j^2 / N."""
    acc = {}

    def hook(name):
        def fn(x):
            sq = x.float().reshape(-1, x.shape[-1]).pow(2).sum(dim=0).double()
            acc[name] = acc[name] + sq if name in acc else sq
        return fn

    out = runner.run_block(l, hidden, {n: hook(n) for n in LINEARS})
    return out, {n: (acc[n] / n_seq) for n in LINEARS}


def scores(layer, name, s):
    """Wanda scores |W| * sqrt(s) in float32 ([out, in])."""
    w = layer.get_submodule(name).weight.data
    return w.abs() * torch.sqrt(s.float()).reshape(1, -1)


# ---------------------------------------------------------------------------------------------
# allocation

def block_statistics(layer, s, m_outlier):
    per_linear, pooled = {}, []
    for n in LINEARS:
        a = scores(layer, n, s[n])
        pooled.append(a.flatten())
        per_linear[n] = {"shape": list(a.shape), "score_sum": r9(a.double().sum()),
                         "s_sum": r9(s[n].sum()), "s_max": r9(s[n].max()),
                         "dead_inputs": int((s[n] == 0).sum())}
    a = torch.cat(pooled)
    mean64 = float(a.double().mean())
    mean32 = float(torch.mean(a))                 # the reference's float32 torch.mean
    median = float(torch.median(a))               # lower middle value
    n_out64 = int((a.double() > m_outlier * mean64).sum())
    n_out32 = int((a > torch.mean(a) * m_outlier).sum())
    return {"numel": a.numel(), "mean": mean64, "mean_float32": mean32, "median": median,
            "max": float(a.max()), "std": float(a.double().std()),
            "outliers": n_out64, "outliers_float32_threshold": n_out32,
            "owl_outlier_ratio": 100.0 * n_out64 / a.numel(), "linears": per_linear}


def minmax(x):
    x = np.asarray(x, dtype=np.float64)
    span = x.max() - x.min()
    return np.zeros_like(x) if span == 0 else (x - x.min()) / span


def dlp_ratios(stat, p, alpha):
    s = np.asarray(stat, dtype=np.float64)
    imp = 1.0 - s / s.sum()
    d = minmax(imp) * 2 * alpha
    return p + d.mean() - d


def owl_ratios(outlier_ratio, p, lam):
    v = minmax(outlier_ratio) * 2 * lam
    return p + v.mean() - v


def reference_applied(r):
    """The reference's per-block ratio as used by its pruners: <= 0 becomes 0.01, no cap at 1."""
    return [0.01 if x <= 0 else float(x) for x in r]


def describe(name, ratios, model_cfg, p, note):
    r = np.asarray(ratios)
    applied = reference_applied(ratios)
    return {"name": name, "note": note, "ratios": [r9(x) for x in r],
            "applied_by_reference": [r9(x) for x in applied],
            "reference_floor_triggered": bool((r <= 0).any()), "above_one": bool((r >= 1).any()),
            "min": r9(r.min()), "max": r9(r.max()), "mean": r9(r.mean()),
            "argmin": int(r.argmin()), "argmax": int(r.argmax()),
            "pruned_per_row": {str(k): [int(k * x) for x in applied] for k in sorted(set(model_cfg))},
            "target": p}


# ---------------------------------------------------------------------------------------------
# pruning

def wanda_prune(runner, ratios, windows_n):
    """Sequential Wanda pruning at per-block ratios; returns per-block achieved sparsity."""
    hidden = runner.hidden.clone()
    achieved, zeros_total, numel_total = [], 0, 0
    for l, layer in enumerate(runner.layers):
        _, s = input_scalers(runner, l, hidden, windows_n)   # block l dense, inputs from pruned 0..l-1
        z, n_all = 0, 0
        for n in LINEARS:
            a = scores(layer, n, s[n])
            k = int(a.shape[1] * ratios[l])
            idx = torch.sort(a, dim=-1, stable=True)[1][:, :k]
            w = layer.get_submodule(n).weight.data
            w.scatter_(1, idx, 0.0)
            z += int((w == 0).sum()); n_all += w.numel()
        achieved.append(r9(z / n_all)); zeros_total += z; numel_total += n_all
        hidden = runner.run_block(l, hidden)                 # pruned block l -> inputs of block l+1
    return achieved, zeros_total / numel_total


def evaluate(model, ids, T, n):
    t0 = time.time()
    nlls = [window_nll(model, ids[w * T:(w + 1) * T]) for w in range(n)]
    return {"T": T, "windows": n, "mean_nll": sum(nlls) / n, "ppl": math.exp(sum(nlls) / n),
            "window_mean_nll": [float(f"{x:.10g}") for x in nlls], "seconds": round(time.time() - t0, 1)}


def allocation_pass(args, fx, model, cfg, windows, n_seq, p, alpha):
    """Dense sequential pass: block statistics and the four allocations, recorded into `fx`."""
    # --- allocation pass (dense) ---
    t0 = time.time()
    runner = Runner(model, windows, args.batch)
    hidden, blocks = runner.hidden, []
    for l, layer in enumerate(runner.layers):
        hidden, s = input_scalers(runner, l, hidden, n_seq)
        blocks.append(block_statistics(layer, s, args.owl_m))
        log(f"  block {l}: mean {blocks[-1]['mean']:.6g} median {blocks[-1]['median']:.6g} "
            f"D {blocks[-1]['owl_outlier_ratio']:.4f}")
    del hidden
    fx["timings_s"]["allocation_pass"] = round(time.time() - t0, 1)
    fx["load_average_after_allocation"] = uptime()
    fx["blocks"] = [{"index": l, **{k: (r9(v) if isinstance(v, float) else v) for k, v in b.items()}}
                    for l, b in enumerate(blocks)]
    in_dims = [cfg.hidden_size, cfg.intermediate_size]
    mean_s = [b["mean"] for b in blocks]
    median_s = [b["median"] for b in blocks]
    outl = [b["owl_outlier_ratio"] for b in blocks]
    L = cfg.num_hidden_layers
    alloc = {
        "uniform": np.full(L, p),
        "dlp_mean": dlp_ratios(mean_s, p, alpha),
        "dlp_median": dlp_ratios(median_s, p, alpha),
        "owl": owl_ratios(outl, p, args.owl_lambda),
    }
    notes = {"uniform": "every block at p",
             "dlp_mean": "DLP, S_l = mean of pooled scores (released code)",
             "dlp_median": "DLP, S_l = median of pooled scores (paper)",
             "owl": f"OWL, M = {args.owl_m}, lambda = {args.owl_lambda}"}
    fx["allocations"] = {k: describe(k, v, in_dims, p, notes[k]) for k, v in alloc.items()}
    # The float32 mean path of the reference gives the same DLP ratios to ~1e-7:
    fx["allocations"]["dlp_mean"]["max_abs_diff_vs_float32_mean"] = r9(np.abs(
        dlp_ratios([b["mean_float32"] for b in blocks], p, alpha) - alloc["dlp_mean"]).max())
    for k, v in alloc.items():
        log(f"  {k}: min {v.min():.4f} max {v.max():.4f} mean {v.mean():.6f}")
    return runner, alloc


# ---------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--calibration", required=True)
    ap.add_argument("--sparsity", type=float, default=0.7)
    ap.add_argument("--alpha", type=float, default=0.15)
    ap.add_argument("--owl-m", type=float, default=5.0)
    ap.add_argument("--owl-lambda", type=float, default=0.08)
    ap.add_argument("--eval-windows", type=int, default=32)
    ap.add_argument("--eval-T", type=int, default=2048)
    ap.add_argument("--no-prune", action="store_true", help="allocation only (ratios + statistics)")
    ap.add_argument("--ratios-from", default=None,
                    help="skip the allocation pass: take blocks/allocations from this earlier output (same "
                         "model and calibration) and add the pruning results to it")
    ap.add_argument("--allocations", default="dense,uniform,dlp_median,owl,dlp_mean",
                    help="order of the prune+evaluate stages")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    p, alpha = args.sparsity, args.alpha
    mpath = Path(args.model).expanduser()
    out = Path(args.out)
    cal, windows = read_calibration(args.calibration)
    n_seq, T_cal = windows.shape

    fx = {"generator": "scripts/reference/dlp_reference.py",
          "model": mpath.stem, "gguf_sha256": sha256(mpath),
          "versions": {"python": platform.python_version(), "torch": torch.__version__,
                       "transformers": transformers.__version__, "gguf": gguf_version(),
                       "numpy": np.__version__},
          "threads": torch.get_num_threads(),
          "dtype": "float32 (GGUF tensors dequantized to fp32 by transformers' GGUF loader)",
          "calibration": {"settings": cal["settings"], "source_sha256": cal.get("source_sha256"),
                          "windows_sha256": cal["windows_sha256"], "samples": n_seq, "sequence_length": T_cal},
          "settings": {"sparsity": p, "alpha": alpha, "owl_M": args.owl_m, "owl_lambda": args.owl_lambda,
                       "pruner": "wanda unstructured, per output row"},
          "procedure": {
              "allocation_inputs": "dense: block l is fed by the dense blocks 0..l-1 (the released "
                                   "get_dlp_ratios/get_owl_ratios never modify weights)",
              "pruning_inputs": "pruned: block l is scored on inputs from the already pruned blocks 0..l-1, "
                                "with block l itself still dense while its inputs are recorded, then re-run "
                                "after pruning to produce block l+1's inputs",
              "scaler": "s_j = sum over all calibration tokens of x_j^2 / N_sequences, accumulated in float64 "
                        "(Wanda's WrappedGPT.add_batch: float32 running average over sequences, same value up to "
                        "rounding)",
              "scores": "A = |W| * sqrt(s) in float32, pooled over q,k,v,o,gate,up,down of the block",
              "statistics": "mean = float64 sum / count (mean_float32 = torch.mean as in the reference); "
                            "median = torch.median (lower middle value); owl_outlier_ratio = "
                            "100 * #{A > M * mean} / numel with the float64 mean",
              "dlp": "I = 1 - S/sum(S); d = minmax(I) * 2 alpha; R = p + mean(d) - d",
              "owl": "v = minmax(D) * 2 lambda; R = p + mean(v) - v",
              "wanda": "per row: zero the int(in * R) lowest scores, stable ascending sort (ties: lower index first)",
              "reference_edge_cases": "the reference pruners turn a ratio <= 0 into 0.01 and do not cap at 1"},
          "load_average_start": uptime(), "timings_s": {}}

    def save():
        fx["peak_rss_mib"] = peak_rss_mib()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(fx, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    t0 = time.time()
    model = load(mpath)
    model.config.use_cache = False
    fx["timings_s"]["load"] = round(time.time() - t0, 1)
    cfg = model.config
    fx["model_config"] = {"layers": cfg.num_hidden_layers, "hidden": cfg.hidden_size,
                          "intermediate": cfg.intermediate_size, "heads": cfg.num_attention_heads,
                          "kv_heads": cfg.num_key_value_heads,
                          "attn_implementation": cfg._attn_implementation}
    log(f"{mpath.name}: {cfg.num_hidden_layers} blocks; calibration {n_seq} x {T_cal}")

    if args.ratios_from:
        base = json.loads(Path(args.ratios_from).read_text())
        for key, mine in (("gguf_sha256", fx["gguf_sha256"]),):
            if base[key] != mine:
                raise SystemExit(f"{args.ratios_from}: {key} {base[key]} differs from {mine}")
        if base["calibration"]["windows_sha256"] != cal["windows_sha256"]:
            raise SystemExit(f"{args.ratios_from}: computed on other calibration windows")
        base["load_average_start_pruning"] = fx["load_average_start"]
        base["versions_pruning"] = fx["versions"]
        fx = base
        alloc = {k: np.asarray(a["ratios"], dtype=np.float64) for k, a in fx["allocations"].items()}
        for k, a in fx["allocations"].items():   # 9-digit ratios must give the same kept counts
            for dim, counts in a["pruned_per_row"].items():
                if [int(int(dim) * x) for x in reference_applied(alloc[k])] != counts:
                    raise SystemExit(f"{k}: rounded ratios change int(in * R) for in = {dim}")
        runner = Runner(model, windows, args.batch)
        log(f"allocations taken from {args.ratios_from}")
    else:
        runner, alloc = allocation_pass(args, fx, model, cfg, windows, n_seq, p, alpha)
        save()
    if args.no_prune:
        log(f"wrote {out}")
        return

    # --- pruning + evaluation ---
    v = read_gguf(mpath)
    tok = byte_level(v)
    ids = tok.encode(wiki_text(), add_special_tokens=True).ids
    n_eval = min(args.eval_windows, len(ids) // args.eval_T)
    fx["evaluation"] = {"dataset": "WikiText-2 raw test", "protocol": PPL_PROTOCOL, "T": args.eval_T,
                        "windows": n_eval, "windows_total": len(ids) // args.eval_T, "token_count": len(ids)}
    fx["results"] = {}
    dense_state = {k: t.clone() for k, t in model.state_dict().items() if ".layers." in k}
    for name in args.allocations.split(","):
        model.load_state_dict(dense_state, strict=False)
        res = {}
        if name != "dense":
            t0 = time.time()
            achieved, total = wanda_prune(runner, alloc[name].tolist() if name != "dense" else None, n_seq)
            res["pruning_pass_s"] = round(time.time() - t0, 1)
            res["block_sparsity"] = achieved
            res["global_sparsity"] = r9(total)
            log(f"  {name}: pruned in {res['pruning_pass_s']} s, global sparsity {total:.6f}")
        ev = evaluate(model, ids, args.eval_T, n_eval)
        res["ppl"], res["mean_nll"] = ev["ppl"], ev["mean_nll"]
        res["window_mean_nll"] = ev["window_mean_nll"]
        res["evaluation_s"] = ev["seconds"]
        res["load_average"] = uptime()
        fx["results"][name] = res
        log(f"  {name}: ppl {ev['ppl']:.4f} ({ev['seconds']} s, {res['load_average']})")
        save()
    log(f"wrote {out}")


if __name__ == "__main__":
    main()
