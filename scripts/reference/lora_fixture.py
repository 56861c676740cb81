#!/usr/bin/env python3
"""Golden LoRA fixture for `TrainingTests/PEFTGoldenTests`, computed with Hugging Face transformers +
peft on CPU. Reference only (not CI).

Model: SmolLM2-135M (`$DLP_HOME/models/smollm2-135m.gguf`), loaded by transformers' own GGUF reader
(`from_pretrained(dir, gguf_file=name)`, the `gguf` package dequantizing every tensor to float32,
llama q/k rows un-permuted to Hugging Face's halves order), truncated to its first BLOCKS decoder
blocks, then the final RMSNorm and the tied head (the embedding). This reads the GGUF independently
of the Swift code; `weight_digests` in the JSON lets the test confirm both sides hold the same
weights (q/k rows in Hugging Face order).

Adapter: `peft.get_peft_model` with LoraConfig(r=8, lora_alpha=16, lora_dropout=0, target_modules
q_proj, v_proj, bias none). Dropout is 0 because its random streams (torch's and dlp's seeded
LoRADropout) cannot match; with p = 0 peft uses nn.Identity. A and B are set to non-zero values
drawn from numpy's PCG64 (seed SEED; A uniform in ±1/√in as peft's Kaiming init, B uniform in
±B_BOUND; B ≠ 0 so that A's gradients are not zero), rounded to float32, and saved with peft's own
`save_pretrained` (adapter_config.json + adapter_model.safetensors, F32, Hugging Face row order):
the Swift test loads them through `PEFTAdapter.read`, the `--adapter` code path.

Batch: 2 sequences × 64 tokens, the first 128 WikiText-2 test tokens of the committed forward
fixture (`Tests/Fixtures/forward/smollm2-135m.json`), stored in the JSON. Loss as dlp's trainer
computes it (`TrainingModel.accumulateGradients` with normalizer S·(T−1)): every next-token
prediction of both sequences, mean NLL over the 2·63 = 126 predictions (natural log), which is also
transformers' `labels=input_ids` loss for equal-length sequences.

Precision: the fixture is float64. transformers' Llama computes RMSNorm, the eager softmax and the
RoPE angles in float32 even in a float64 model, so those three are replaced (`use_float64`) by the
same formulas in the tensor's dtype, with the RoPE inverse frequencies 1/θ^(2i/d) and angles p·ωᵢ in
float64 (as dlp builds its tables). The stock float32 model is run too (`float32_reference`), to
show the size of float32 rounding on this problem.

Records (JSON + safetensors):
1. loss of the batch with the adapter (and without it: `base_loss`);
2. dL/dA and dL/dB of every adapter matrix (F64, peft's parameter names, Hugging Face row order);
3. 10 steps of torch.optim.AdamW (foreach=False) in float64 on the same batch each step: lr 1e-3
   constant (no scheduler), betas (0.9, 0.999), eps 1e-8, weight decay 0.01 on every LoRA matrix
   (one parameter group), no gradient clipping. `trajectory[k]` is the loss before step k+1
   (k = 0..9, as the trainer records a step's loss) and `trajectory[10]` the loss after step 10;
   the change of every adapter matrix after the 10 steps is stored (F32, `delta.*`).

Usage: python3 scripts/reference/lora_fixture.py [--threads 2]
The first run installs transformers<5, torch, peft, safetensors, numpy and gguf into
`$DLP_HOME/venvs/peft` (as peft_check.py) and re-runs itself there.
Outputs Tests/Fixtures/lora/{adapter/, smollm2-135m-2blocks.json, smollm2-135m-2blocks.safetensors}.
"""
import hashlib, json, os, platform, subprocess, sys, venv
from pathlib import Path

os.environ.pop("OPENBLAS_CORETYPE", None)
os.environ.setdefault("OMP_NUM_THREADS", "2")

PACKAGES = ["transformers<5", "torch", "peft", "safetensors", "numpy", "gguf"]
HOME = Path(os.environ.get("DLP_HOME") or Path.home() / ".cache/dlp")
VENV = HOME / "venvs" / "peft"
ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests/Fixtures/lora"
NAME = "smollm2-135m-2blocks"

BLOCKS = 2
SEQUENCES, LENGTH = 2, 64
RANK, ALPHA = 8, 16
TARGETS = ["q_proj", "v_proj"]
SEED, B_BOUND = 20250601, 0.02
STEPS, LR, BETAS, EPS, WEIGHT_DECAY = 10, 1e-3, (0.9, 0.999), 1e-8, 0.01


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


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def use_float64(modeling):
    """Makes transformers' Llama compute RMSNorm, the attention softmax and RoPE in the model's
    dtype (float64) instead of float32; same formulas otherwise."""
    import torch

    def rms_norm(self, x):
        variance = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(variance + self.variance_epsilon))

    def eager(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
        key_states = modeling.repeat_kv(key, module.num_key_value_groups)
        value_states = modeling.repeat_kv(value, module.num_key_value_groups)
        weights = torch.matmul(query, key_states.transpose(2, 3)) * scaling
        if attention_mask is not None:
            weights = weights + attention_mask[:, :, :, : key_states.shape[-2]]
        weights = torch.nn.functional.softmax(weights, dim=-1)
        return torch.matmul(weights, value_states).transpose(1, 2).contiguous(), weights

    def rotary(self, x, position_ids):
        d = self.config.head_dim
        inv_freq = 1.0 / (self.config.rope_theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
        angles = position_ids[:, :, None].to(torch.float64) * inv_freq[None, None, :]
        emb = torch.cat((angles, angles), dim=-1)
        return emb.cos().to(x.dtype), emb.sin().to(x.dtype)

    modeling.LlamaRMSNorm.forward = rms_norm
    modeling.eager_attention_forward = eager
    modeling.LlamaRotaryEmbedding.forward = rotary


def main():
    ensure_venv()
    import argparse
    import numpy as np
    import torch
    import transformers, peft, safetensors
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM
    from transformers.models.llama import modeling_llama

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    path = HOME / "models/smollm2-135m.gguf"
    forward = json.loads((ROOT / "Tests/Fixtures/forward/smollm2-135m.json").read_text())
    case = next(c for c in forward["logits"]["cases"] if c["name"].startswith("wikitext2 test first"))
    ids = torch.tensor(case["ids"][: SEQUENCES * LENGTH]).reshape(SEQUENCES, LENGTH)

    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32,
                                                 attn_implementation="eager")
    model.model.layers = model.model.layers[:BLOCKS]
    model.config.num_hidden_layers = BLOCKS
    model.config.use_cache = False
    model.eval()
    assert model.lm_head.weight is model.model.embed_tokens.weight, "SmolLM2's head is tied"
    c = model.config

    config = LoraConfig(r=RANK, lora_alpha=ALPHA, lora_dropout=0.0, target_modules=TARGETS, bias="none",
                        task_type="CAUSAL_LM")
    model = get_peft_model(model, config)
    rng = np.random.Generator(np.random.PCG64(SEED))
    lora = [(n, p) for n, p in model.named_parameters() if ".lora_" in n]
    for name, p in lora:   # named_parameters order: block by block, q then v, A then B
        bound = 1 / np.sqrt(p.shape[1]) if ".lora_A." in name else B_BOUND
        values = rng.uniform(-bound, bound, size=tuple(p.shape)).astype(np.float32)
        with torch.no_grad():
            p.copy_(torch.from_numpy(values))
    model.peft_config["default"].base_model_name_or_path = f"smollm2-135m.gguf, first {BLOCKS} blocks"
    adapter_dir = OUT / "adapter"
    model.save_pretrained(str(adapter_dir))
    for extra in adapter_dir.iterdir():   # keep only the two files peft loads (no README.md)
        if extra.name not in ("adapter_config.json", "adapter_model.safetensors"):
            extra.unlink()
    # peft keeps target_modules as a set, written in hash order: sort it so reruns write the same file.
    config_path = adapter_dir / "adapter_config.json"
    saved = json.loads(config_path.read_text())
    saved["target_modules"] = sorted(saved["target_modules"])
    config_path.write_text(json.dumps(saved, indent=2, sort_keys=True))

    def key(name):
        return name.replace(".default.weight", ".weight")   # peft's file keys drop the adapter name

    def loss_of(m):
        logits = m(input_ids=ids).logits
        return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).to(torch.float64),
                                                 ids[:, 1:].reshape(-1), reduction="mean")

    def loss_and_gradients(m):
        m.zero_grad(set_to_none=True)
        loss = loss_of(m)
        loss.backward()
        return float(loss.detach()), {key(n): p.grad.detach().to(torch.float64).clone() for n, p in lora}

    # Stock float32 (transformers' own mixed float32 code), to measure float32 rounding.
    loss32, grads32 = loss_and_gradients(model)

    use_float64(modeling_llama)
    model.double()
    with torch.no_grad():
        with model.disable_adapter():
            base_loss = float(loss_of(model))
    loss, grads = loss_and_gradients(model)
    start = {key(n): p.detach().clone() for n, p in lora}

    optimizer = torch.optim.AdamW([p for _, p in lora], lr=LR, betas=BETAS, eps=EPS, weight_decay=WEIGHT_DECAY,
                                  foreach=False)
    trajectory = []
    for _ in range(STEPS):
        optimizer.zero_grad(set_to_none=True)
        step_loss = loss_of(model)
        step_loss.backward()
        trajectory.append(float(step_loss.detach()))
        optimizer.step()
    with torch.no_grad():
        trajectory.append(float(loss_of(model)))
    delta = {key(n): (p.detach() - start[key(n)]) for n, p in lora}

    # Weight digests of the truncated model in Hugging Face row order: Σ w and Σ_r (r+1)·Σ_c w[r, c]
    # (the second depends on the row order, so it tells a q/k row permutation apart).
    digests = {}
    for n, p in model.base_model.model.named_parameters():
        if ".lora_" in n:
            continue
        w = p.detach().to(torch.float64)
        rows = torch.arange(1, w.shape[0] + 1, dtype=torch.float64)
        digests[n.replace(".base_layer.", ".")] = [float(w.sum()), float((w.reshape(w.shape[0], -1).sum(1) * rows).sum())]

    tensors = {}
    for k in grads:
        tensors["grad." + k] = grads[k].contiguous()
        tensors["delta." + k] = delta[k].to(torch.float32).contiguous()
    OUT.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(OUT / f"{NAME}.safetensors"), metadata={"format": "pt"})

    def stats(a, b):
        err = (a - b).abs().max()
        return {"max_abs_diff": float(err), "max_abs": float(b.abs().max()), "relative": float(err / b.abs().max())}

    fixture = {
        "generator": "scripts/reference/lora_fixture.py",
        "model": "smollm2-135m", "gguf_sha256": sha256(path), "blocks": BLOCKS,
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "transformers": transformers.__version__, "peft": peft.__version__,
                     "safetensors": safetensors.__version__, "numpy": np.__version__},
        "threads": torch.get_num_threads(),
        "precision": "float64 (transformers' float32 RMSNorm, softmax and RoPE replaced by float64 versions);"
                     " adapter start values are float32 numbers",
        "hf_config": {"hidden_size": c.hidden_size, "intermediate_size": c.intermediate_size,
                      "num_attention_heads": c.num_attention_heads, "num_key_value_heads": c.num_key_value_heads,
                      "head_dim": getattr(c, "head_dim", None), "vocab_size": c.vocab_size,
                      "rms_norm_eps": c.rms_norm_eps, "rope_theta": c.rope_theta,
                      "tie_word_embeddings": c.tie_word_embeddings},
        "lora": {"r": RANK, "lora_alpha": ALPHA, "lora_dropout": 0.0, "target_modules": TARGETS,
                 "init": f"numpy PCG64 seed {SEED}, peft parameter order: A uniform ±1/sqrt(in), B uniform ±{B_BOUND},"
                         " rounded to float32; saved by peft save_pretrained in adapter/",
                 "dropout_note": "0: dropout draws random masks whose streams differ between torch and dlp"},
        "batch": {"sequences": SEQUENCES, "length": LENGTH, "source": "first 128 WikiText-2 test tokens of"
                  " Tests/Fixtures/forward/smollm2-135m.json", "ids": ids.tolist()},
        "loss_definition": "mean over both sequences and t = 0..62 of -log softmax(logits[s, t])[ids[s, t+1]]"
                           " (126 predictions, natural log)",
        "loss": loss, "base_loss": base_loss,
        "optimizer": {"name": "torch.optim.AdamW", "foreach": False, "lr": LR, "schedule": "constant",
                      "betas": list(BETAS), "eps": EPS, "weight_decay": WEIGHT_DECAY,
                      "weight_decay_applies_to": "every LoRA matrix (one parameter group)",
                      "gradient_clipping": None, "steps": STEPS, "batch_each_step": "the same batch"},
        "trajectory": trajectory,
        "trajectory_definition": "trajectory[k], k < 10: the loss before step k+1 (on the parameters after k"
                                 " steps); trajectory[10]: the loss after step 10",
        "tensors": {"file": f"{NAME}.safetensors",
                    "grad.<key>": "dL/dA, dL/dB at the start values, F64, [r, in] / [out, r], Hugging Face row order",
                    "delta.<key>": "parameter after 10 steps minus start value, F32"},
        "weight_digests": {"definition": "per tensor of the truncated model (Hugging Face names and row order),"
                                         " float64: [sum of all values, sum over rows r of (r+1) * row sum]",
                           "values": digests},
        "float32_reference": {
            "description": "transformers' stock float32 model (float32 RMSNorm, softmax, RoPE) against this"
                           " fixture: the size of float32 rounding on this problem",
            "loss": loss32, "loss_abs_diff": abs(loss32 - loss),
            "gradients": {k: stats(grads32[k], grads[k]) for k in grads}},
    }
    (OUT / f"{NAME}.json").write_text(json.dumps(fixture, indent=1) + "\n", encoding="utf-8")

    print(json.dumps({"loss": loss, "base_loss": base_loss, "float32_loss": loss32, "trajectory": trajectory,
                      "gradient_max_abs": {k: float(v.abs().max()) for k, v in grads.items()},
                      "float32_relative": {k: v["relative"] for k, v in fixture["float32_reference"]["gradients"].items()},
                      "delta_max_abs": {k: float(v.abs().max()) for k, v in delta.items()},
                      "files": {p.name: p.stat().st_size for p in sorted(OUT.rglob("*")) if p.is_file()}}, indent=1))


if __name__ == "__main__":
    main()
