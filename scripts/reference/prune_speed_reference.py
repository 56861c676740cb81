#!/usr/bin/env python3
"""End-to-end timing reference for `dlp prune --method wanda --allocation dlp`: the released DLP passes
(ironartisan/DLP `get_dlp_ratios` then `prune_wanda_dlp`, on Wanda's `WrappedGPT` hooks and
`prepare_calibration_input`) re-written here and run with Hugging Face transformers on CPU, so that
wall time and peak memory of the two can be put side by side. Reference only (not CI).

The passes kept from the released code (this script's own code, same work):

* Calibration input (`prepare_calibration_input`): each calibration window is run through the model
  alone (batch 1) until block 0 catches its input; the embeddings fill an [N, T, hidden] buffer, a
  second buffer of the same size receives the block outputs, and the two swap after every block.
  The windows are dlp's, exported by `dlp calibration ... --output FILE.json` (sha256-checked).
* Allocation pass on the dense model: for every block, (1) run the block on every sample, one at a
  time, with forward hooks on its 7 linears accumulating per input feature the squared norm as
  `WrappedGPT.add_batch` does (float32 running average over samples: s *= n/(n+1); n += 1;
  s += ||x_j||^2 / n); (2) pool the Wanda scores |W| * sqrt(s) (float32) of the 7 linears and take
  the block statistic; (3) run the block again on every sample to produce the next block's inputs
  (the released code runs every block twice; the second run is kept although its outputs equal
  the first's). Ratios: DLP arithmetic of dlp_reference.py (`dlp_ratios`, float64), statistic
  median (the paper, dlp's default; `--statistic mean` = released code), ratio <= 0 -> 0.01.
* Pruning pass (`prune_wanda_dlp`) from a fresh calibration input: for every block, run it on every
  sample with the hooks, then per linear zero in every output row the int(in * R_l) lowest scores
  |W| * sqrt(s) (stable ascending sort), then run the pruned block on every sample for the next
  block's inputs.
* WikiText-2 perplexity of the dense model before and of the pruned model after, protocol of
  forward_fixture.py (`PPL_PROTOCOL`, same as `dlp perplexity`), first `--eval-windows` windows of
  `--eval-T` tokens.

`--dtype bf16`: every forward (blocks in both passes, both evaluations) runs under
`torch.autocast("cpu", dtype=torch.bfloat16)` with the weights kept fp32, which is what a user of
the released code would do on CPU; the hooks' squared norms and the scores stay float32 (computed
from the autocast activations: the input of down_proj is then bf16-rounded). dlp's `--precision
bf16` keeps its statistics on f32 activations, so bf16 ratios agree less closely than f32 ones.

Not kept from the released code: its `prepare_calibration_input` allocates 128 rows whatever
`nsamples` is (here N rows), its `WrappedGPT` also allocates an unused in x in float32 matrix per
linear (not here), and it loads and tokenizes C4 twice (here the windows are read once).

Output JSON (`--out`): settings, versions, threads (torch.get_num_threads), cpu (model name, flags of
interest, torch's CPU capability), calibration (settings as exported, windows sha256, N, T),
timings_s {load, tokenize_eval, dense_eval, allocation_pass, pruning_pass, pruned_eval,
total_excluding_load, total_including_load} (tokenize_eval: WikiText-2 tokenized once, used by both
evaluations), rss_mib_at_start (VmRSS after importing torch and transformers, before loading),
peak_rss_mib (getrusage maxrss of the process, MiB), peak_rss_mib_after and
rss_mib_after (peak so far and current VmRSS at the end of each phase), blocks[l] {statistic,
ratio, applied_ratio, sparsity}, global_sparsity, evaluation {protocol, T, windows, dense_ppl,
pruned_ppl, ...}. With `--peak-after-load` the kernel's peak is reset after loading (transformers'
GGUF loader dequantizes through temporaries that can dominate the peak of a small run):
peak_rss_mib_after_load is then the peak of the passes and evaluations alone, peak_rss_mib the
larger of it and the load's, and /usr/bin/time's figure misses the load. A short summary goes to
stderr.

Usage (python: the venv with torch, transformers, gguf and accelerate, e.g.
~/.cache/dlp/venvs/peft/bin/python):

  dlp calibration smollm2-135m --samples 16 --seqlen 2048 --output /tmp/cal-16x2048.json
  python scripts/reference/prune_speed_reference.py --model ~/.cache/dlp/models/smollm2-135m.gguf \\
      --calibration /tmp/cal-16x2048.json --sparsity 0.7 --alpha 0.15 --eval-windows 16 \\
      --threads 2 --dtype f32 --out /tmp/prune-reference-f32.json       (and --dtype bf16)

The dlp side of the same comparison (same windows: the calibration flags are the exported ones;
`--no-cache` so the allocation pass is run, not read from the ratio cache; `--formats gguf` keeps
the export small, its time is reported apart in manifest.json's timings):

  dlp prune smollm2-135m --method wanda --allocation dlp --statistic median --sparsity 0.7 --alpha 0.15 \\
      --samples 16 --seqlen 2048 --seed 0 --sampling stream --no-cache --threads 2 \\
      --evaluate wikitext2:/work/shared/data/wikitext-2-raw/wiki.test.raw --eval-windows 16 \\
      --eval-seqlen 2048 --precision f32 --formats gguf --output /tmp/prune-dlp-f32 --force

scripts/reference/prune_side_by_side.sh runs both, one after the other under /usr/bin/time -v, and
prints wall time, peak RSS, phase timings, ratio agreement and perplexities:

  scripts/reference/prune_side_by_side.sh /tmp/prune-sbs 16 2048 16 2 "f32 bf16"
"""
import argparse, contextlib, gc, json, platform, resource, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dlp_reference as ref  # noqa: E402  (same repository: calibration windows, block runner, DLP ratios)
import forward_fixture as ff  # noqa: E402  (same repository: GGUF loading, perplexity protocol)
from tokenizer_fixture import read_gguf, byte_level  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

log, r9 = ref.log, ref.r9
CPU_FLAGS = ["avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16", "amx_int8"]


def peak_rss_mib():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def rss_mib():
    """Current resident set (VmRSS), MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def reset_peak_rss():
    """Resets the kernel's high-water mark of this process to its current RSS (Linux clear_refs 5).
    getrusage's maxrss, and the figure /usr/bin/time reports at exit, then no longer see the earlier peak."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def cpu_info():
    name, flags = "?", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and name == "?":
                name = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return {"model_name": name, "flags": {f: f in flags for f in CPU_FLAGS},
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability()}


class InputNorms:
    """Per input feature of one linear, the running mean over samples of ||x_j||^2 (float32), as
    Wanda's `WrappedGPT.add_batch`: s *= n/(n+b); n += b; s += sum over the b samples' tokens of x_j^2 / n."""

    def __init__(self, features):
        self.s = torch.zeros(features, dtype=torch.float32)
        self.n = 0

    def add(self, x):                                         # x: [b, T, in]
        b = x.shape[0]
        self.s *= self.n / (self.n + b)
        self.n += b
        self.s += x.reshape(-1, x.shape[-1]).float().pow(2).sum(dim=0) / self.n


class BlockPasses:
    """The released code's sequential walk over the decoder blocks, one calibration sample at a time."""

    def __init__(self, model, windows, autocast):
        self.model, self.windows, self.autocast = model, windows, autocast
        self.layers = model.model.layers

    def calibration_input(self):
        """(inps, outs, kwargs): block 0's inputs [N, T, hidden], an output buffer of the same size,
        and the block keyword arguments (RoPE cos/sin, positions) caught at block 0."""
        with torch.no_grad(), self.autocast():
            runner = ref.Runner(self.model, self.windows, batch=1)
        return runner.hidden, torch.zeros_like(runner.hidden), runner.kwargs

    def run(self, l, inps, outs, kwargs, norms=None):
        """Runs block l on every sample into `outs`; with `norms`, hooks feed each linear's input to it."""
        layer = self.layers[l]
        handles = [layer.get_submodule(name).register_forward_hook(
            lambda _m, inp, _out, acc=acc: acc.add(inp[0].detach())) for name, acc in (norms or {}).items()]
        try:
            # One autocast context per run: its cast-weight cache must not outlive a pruning step.
            with torch.no_grad(), self.autocast():
                for j in range(inps.shape[0]):
                    o = layer(inps[j:j + 1], **kwargs)
                    outs[j] = (o[0] if isinstance(o, tuple) else o)[0]
        finally:
            for h in handles:
                h.remove()

    def observe(self, l, inps, outs, kwargs):
        norms = {name: InputNorms(self.layers[l].get_submodule(name).in_features) for name in ref.LINEARS}
        self.run(l, inps, outs, kwargs, norms)
        return {name: acc.s for name, acc in norms.items()}


def wanda_scores(layer, name, s):
    """|W| * sqrt(s) per weight, float32 ([out, in])."""
    return layer.get_submodule(name).weight.data.abs() * torch.sqrt(s).reshape(1, -1)


def allocation_pass(passes, statistic, p, alpha):
    """get_dlp_ratios: per block hooks run, pooled-score statistic, second run for the next inputs."""
    inps, outs, kwargs = passes.calibration_input()
    stats = []
    for l, layer in enumerate(passes.layers):
        s = passes.observe(l, inps, outs, kwargs)
        pooled = torch.cat([wanda_scores(layer, name, s[name]).flatten() for name in ref.LINEARS])
        stats.append(float(torch.median(pooled)) if statistic == "median" else float(pooled.double().mean()))
        del pooled
        passes.run(l, inps, outs, kwargs)
        inps, outs = outs, inps
    return stats, ref.dlp_ratios(stats, p, alpha)


def pruning_pass(passes, ratios):
    """prune_wanda_dlp: per block hooks run, row-wise Wanda pruning at the block's ratio, re-run."""
    inps, outs, kwargs = passes.calibration_input()
    block_sparsity, zeros_total, numel_total = [], 0, 0
    for l, layer in enumerate(passes.layers):
        s = passes.observe(l, inps, outs, kwargs)
        zeros, numel = 0, 0
        for name in ref.LINEARS:
            w = layer.get_submodule(name).weight.data
            metric = wanda_scores(layer, name, s[name])
            idx = torch.sort(metric, dim=-1, stable=True)[1][:, :int(w.shape[1] * ratios[l])]
            w.scatter_(1, idx, 0.0)
            zeros += int((w == 0).sum()); numel += w.numel()
        block_sparsity.append(zeros / numel); zeros_total += zeros; numel_total += numel
        passes.run(l, inps, outs, kwargs)
        inps, outs = outs, inps
    return block_sparsity, zeros_total / numel_total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(Path.home() / ".cache/dlp/models/smollm2-135m.gguf"))
    ap.add_argument("--calibration", required=True, help="windows from `dlp calibration MODEL ... --output FILE.json`")
    ap.add_argument("--sparsity", type=float, default=0.7)
    ap.add_argument("--alpha", type=float, default=0.15)
    ap.add_argument("--statistic", choices=["median", "mean"], default="median",
                    help="DLP block statistic: median (paper, dlp's default) or mean (released code)")
    ap.add_argument("--eval-windows", type=int, default=16)
    ap.add_argument("--eval-T", type=int, default=2048)
    ap.add_argument("--wikitext", default=str(ff.WIKI), help="WikiText-2 raw test file")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtype", choices=["f32", "bf16"], default="f32")
    ap.add_argument("--peak-after-load", action="store_true",
                    help="reset the process's peak RSS after loading, so that peak_rss_mib_after_load measures the "
                         "passes and evaluations alone (/usr/bin/time's peak then misses the load's)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.dtype == "bf16":
        autocast = lambda: torch.autocast("cpu", dtype=torch.bfloat16)  # noqa: E731
    else:
        autocast = contextlib.nullcontext
    mpath = Path(args.model).expanduser()
    cal, windows = ref.read_calibration(args.calibration)
    n_seq, t_cal = windows.shape
    out = Path(args.out)

    fx = {"generator": "scripts/reference/prune_speed_reference.py",
          "settings": {"model": str(mpath), "method": "wanda", "allocation": "dlp", "statistic": args.statistic,
                       "sparsity": args.sparsity, "alpha": args.alpha, "dtype": args.dtype,
                       "dtype_note": ("weights fp32; forwards under torch.autocast(cpu, bfloat16); norms and scores float32"
                                      if args.dtype == "bf16" else "everything float32"),
                       "threads_requested": args.threads, "eval_windows": args.eval_windows, "eval_T": args.eval_T},
          "versions": {"python": platform.python_version(), "torch": torch.__version__,
                       "transformers": transformers.__version__, "gguf": ff.gguf_version(), "numpy": np.__version__},
          "threads": torch.get_num_threads(), "cpu": cpu_info(),
          "calibration": {"settings": cal["settings"], "windows_sha256": cal["windows_sha256"],
                          "samples": n_seq, "sequence_length": t_cal},
          "rss_mib_at_start": rss_mib(), "load_average_start": ff.uptime(), "timings_s": {}, "peak_rss_mib_after": {}, "rss_mib_after": {}}
    timings, rss, current = fx["timings_s"], fx["peak_rss_mib_after"], fx["rss_mib_after"]

    @contextlib.contextmanager
    def phase(name):
        t0 = time.perf_counter()
        yield
        timings[name] = round(time.perf_counter() - t0, 3)
        rss[name], current[name] = peak_rss_mib(), rss_mib()
        log(f"{name}: {timings[name]:.1f} s, RSS {current[name]} MiB, peak so far {rss[name]:.0f} MiB")

    with phase("load"):
        model = ff.load(mpath)
        model.config.use_cache = False
    if args.peak_after_load:
        gc.collect()
        fx["peak_rss_reset_after_load"] = reset_peak_rss()
    cfg = model.config
    fx["model_config"] = {"layers": cfg.num_hidden_layers, "hidden": cfg.hidden_size,
                          "intermediate": cfg.intermediate_size, "attn_implementation": cfg._attn_implementation}
    log(f"{mpath.name}: {cfg.num_hidden_layers} blocks; calibration {n_seq} x {t_cal}; {args.dtype}, "
        f"{torch.get_num_threads()} threads")

    with phase("tokenize_eval"):
        ff.WIKI = Path(args.wikitext)
        ids = byte_level(read_gguf(mpath)).encode(ff.wiki_text(), add_special_tokens=True).ids
    n_eval = min(args.eval_windows, len(ids) // args.eval_T)

    def evaluate():
        with autocast():
            return ref.evaluate(model, ids, args.eval_T, n_eval)

    with phase("dense_eval"):
        dense = evaluate()
    passes = BlockPasses(model, windows, autocast)
    with phase("allocation_pass"):
        stats, ratios = allocation_pass(passes, args.statistic, args.sparsity, args.alpha)
    applied = ref.reference_applied(ratios)
    with phase("pruning_pass"):
        block_sparsity, global_sparsity = pruning_pass(passes, applied)
    with phase("pruned_eval"):
        pruned = evaluate()
    timings["total_excluding_load"] = round(sum(v for k, v in timings.items() if k != "load"), 3)
    timings["total_including_load"] = round(timings["total_excluding_load"] + timings["load"], 3)

    fx["blocks"] = [{"index": l, "statistic": r9(stats[l]), "ratio": r9(ratios[l]), "applied_ratio": r9(applied[l]),
                     "sparsity": r9(block_sparsity[l])} for l in range(len(stats))]
    fx["global_sparsity"] = r9(global_sparsity)
    fx["evaluation"] = {"dataset": "WikiText-2 raw test", "path": args.wikitext, "protocol": ff.PPL_PROTOCOL,
                        "T": args.eval_T, "windows": n_eval, "token_count": len(ids),
                        "dense_ppl": dense["ppl"], "pruned_ppl": pruned["ppl"],
                        "dense_window_mean_nll": dense["window_mean_nll"],
                        "pruned_window_mean_nll": pruned["window_mean_nll"]}
    if fx.get("peak_rss_reset_after_load"):
        fx["peak_rss_mib_after_load"] = peak_rss_mib()
        fx["peak_rss_mib"] = max(rss["load"], fx["peak_rss_mib_after_load"])
    else:
        fx["peak_rss_mib"] = peak_rss_mib()
    fx["load_average_end"] = ff.uptime()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(fx, indent=1) + "\n", encoding="utf-8")

    print(f"reference {args.dtype}, {torch.get_num_threads()} threads, {n_seq} x {t_cal} calibration: "
          f"ratios {min(ratios):.4f} … {max(ratios):.4f} (block 0 {ratios[0]:.4f}, last {ratios[-1]:.4f}), "
          f"global sparsity {global_sparsity:.4%}", file=sys.stderr)
    print(f"  wikitext2 perplexity ({n_eval} × {args.eval_T}): dense {dense['ppl']:.3f} → pruned {pruned['ppl']:.3f}",
          file=sys.stderr)
    print("  " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()), file=sys.stderr)
    after = (f", {fx['peak_rss_mib_after_load']:.0f} MiB after load" if "peak_rss_mib_after_load" in fx else "")
    print(f"  peak RSS {fx['peak_rss_mib']:.0f} MiB (load {rss['load']:.0f} MiB{after}); wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
