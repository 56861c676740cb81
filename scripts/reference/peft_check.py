#!/usr/bin/env python3
"""Checks a `dlp finetune` adapter with Hugging Face peft: it loads onto the prune output's `hf/`
export with no missing or unexpected keys, and gives the same WikiText-2 window losses as dlp.
Reference only (not CI).

What is compared, window by window (dlp's protocol: the test file's non-empty lines joined with
"\\n\\n", tokenized by dlp's tokenizer via `dlp tokenize --json` so both sides score the same ids,
non-overlapping windows of SEQLEN tokens, every next-token prediction in a window scored):
1. `peft.PeftModel.from_pretrained(hf/, DIR/adapter)` (F32, eval mode: no dropout) against
   `dlp perplexity MODEL --adapter DIR/adapter --adapter-mask off`. peft applies B·A unmasked, so
   dlp is told to do the same; for an adapter trained masked this is not the model dlp trained,
   but it checks the file format, the key names and the q/k row order exactly.
2. When DIR holds a merged `hf/` (`dlp finetune --merge`): transformers on DIR/hf against
   `dlp perplexity DIR` (the merged model.gguf or hf/) — the masked model as trained.
3. The adapter changes the losses (peft's `disable_adapter()` gives the base model's).
Keys: `PeftModel.load_adapter` is asked for its load result; any unexpected key, or a missing
`lora_` key, fails the check.

The first run creates a virtual environment with peft, transformers<5, torch, safetensors and numpy
under `$DLP_HOME/venvs/peft` (default `~/.cache/dlp/venvs/`), outside the repository, and re-runs
itself in it. Prints one JSON object; exits 1 when a key is missing or unexpected or a window's
mean NLL differs by more than --tolerance (default 2e-4 nats; both sides compute in F32).

Usage: python3 scripts/reference/peft_check.py DIR --data wiki.test.raw [--model PRUNE_DIR]
           [--seqlen 256] [--max-windows 4] [--dlp .build/release/dlp]
DIR is a `dlp finetune` output; PRUNE_DIR (default: the adapter's base_model_name_or_path without
its /hf) is the model it was trained on, holding hf/.
"""
import argparse, hashlib, json, os, subprocess, sys, tempfile, venv
from pathlib import Path

os.environ.pop("OPENBLAS_CORETYPE", None)

PACKAGES = ["transformers<5", "torch", "peft", "safetensors", "numpy"]
HOME = Path(os.environ.get("DLP_HOME") or Path.home() / ".cache/dlp")
VENV = HOME / "venvs" / "peft"


def ensure_venv():
    """Re-executes this script inside the venv, creating it first if needed."""
    python = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    marker = VENV / ("installed-" + hashlib.sha256(" ".join(PACKAGES).encode()).hexdigest()[:12])
    if not marker.exists():
        print(f"installing {', '.join(PACKAGES)} into {VENV}", file=sys.stderr)
        if not python.exists():
            venv.create(VENV, with_pip=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PACKAGES], check=True)
        marker.touch()
    os.execv(str(python), [str(python), __file__, *sys.argv[1:]])


def dlp_ids(dlp, model, data):
    with open(data, encoding="utf-8") as f:
        text = "\n\n".join(line for line in f.read().split("\n") if line)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as t:
        t.write(text)
    try:
        out = subprocess.run([dlp, "tokenize", model, "--file", t.name, "--json"], check=True, capture_output=True, text=True)
    finally:
        os.unlink(t.name)
    return json.loads(out.stdout)["ids"]


def dlp_losses(dlp, model, data, seqlen, windows, extra):
    out = subprocess.run([dlp, "perplexity", model, "--dataset", f"wikitext2:{data}", "--seqlen", str(seqlen),
                          "--max-windows", str(windows), "--threads", "2", "--json", *extra],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)["windowLosses"]


def torch_losses(model, windows):
    import torch
    losses = []
    with torch.no_grad():
        for window in windows:
            ids = torch.tensor([window])
            logits = model(input_ids=ids).logits[0, :-1].double()
            nll = torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="mean")
            losses.append(float(nll))
    return losses


def main():
    ensure_venv()
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory")
    parser.add_argument("--data", required=True)
    parser.add_argument("--model")
    parser.add_argument("--seqlen", type=int, default=256)
    parser.add_argument("--max-windows", type=int, default=4)
    parser.add_argument("--tolerance", type=float, default=2e-4)
    parser.add_argument("--dlp", default=str(Path(__file__).resolve().parents[2] / ".build/release/dlp"))
    args = parser.parse_args()
    torch.set_num_threads(2)

    directory = Path(args.directory)
    adapter = directory / "adapter"
    config = json.loads((adapter / "adapter_config.json").read_text())
    masked = json.loads((adapter / "dlp_adapter.json").read_text()).get("masked") if (adapter / "dlp_adapter.json").exists() else None
    base_hf = Path(config["base_model_name_or_path"])
    model_dir = args.model or str(base_hf.parent if base_hf.name == "hf" else base_hf)
    hf = Path(model_dir) / "hf"

    ids = dlp_ids(args.dlp, model_dir, args.data)
    windows = [ids[i * args.seqlen:(i + 1) * args.seqlen] for i in range(min(args.max_windows, len(ids) // args.seqlen))]

    base = AutoModelForCausalLM.from_pretrained(str(hf), torch_dtype=torch.float32)
    model = PeftModel.from_pretrained(base, str(adapter))
    model.eval()
    result = model.load_adapter(str(adapter), adapter_name="verify")
    unexpected = list(result.unexpected_keys)
    missing = [k for k in result.missing_keys if "lora_" in k and ".verify." in k]
    model.set_adapter("default")
    lora_modules = sorted({k.split(".lora_")[0] for k, _ in model.named_parameters() if ".lora_A.default" in k})

    peft_losses = torch_losses(model, windows)
    with model.disable_adapter():
        base_losses = torch_losses(model, windows)
    dlp_adapter = dlp_losses(args.dlp, model_dir, args.data, args.seqlen, len(windows),
                             ["--adapter", str(adapter), "--adapter-mask", "off"])
    report = {
        "adapter": str(adapter), "base": str(hf), "r": config["r"], "lora_alpha": config["lora_alpha"],
        "target_modules": config["target_modules"], "trained_masked": masked, "lora_modules": len(lora_modules),
        "unexpected_keys": unexpected, "missing_lora_keys": missing,
        "windows": len(windows), "seqlen": args.seqlen,
        "peft_window_nll": peft_losses, "dlp_adapter_unmasked_window_nll": dlp_adapter, "base_window_nll": base_losses,
        "max_abs_diff_adapter": max(abs(a - b) for a, b in zip(peft_losses, dlp_adapter)),
        "adapter_effect": max(abs(a - b) for a, b in zip(peft_losses, base_losses)),
    }
    failed = bool(unexpected or missing) or report["max_abs_diff_adapter"] > args.tolerance or report["adapter_effect"] == 0
    merged = directory / "hf"
    if merged.exists():
        merged_model = AutoModelForCausalLM.from_pretrained(str(merged), torch_dtype=torch.float32).eval()
        hf_merged = torch_losses(merged_model, windows)
        dlp_merged = dlp_losses(args.dlp, str(directory), args.data, args.seqlen, len(windows), [])
        report["transformers_merged_window_nll"] = hf_merged
        report["dlp_merged_window_nll"] = dlp_merged
        report["max_abs_diff_merged"] = max(abs(a - b) for a, b in zip(hf_merged, dlp_merged))
        failed = failed or report["max_abs_diff_merged"] > args.tolerance
    report["ok"] = not failed
    print(json.dumps(report, indent=2))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
