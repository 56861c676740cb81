#!/usr/bin/env python3
"""Golden zero-shot log-likelihoods for `EvaluationTests/ZeroShotReferenceTests`, computed with
Hugging Face transformers on CPU in fp32 (an implementation independent of the Swift code).

* Model: transformers loads the SAME GGUF (`from_pretrained(dir, gguf_file=name, dtype=float32)`),
  dequantizing every tensor to fp32, as `forward_fixture.py` does.
* Tokens: the reference tokenizer of `tokenizer_fixture.py` (HF `tokenizers` rebuilt from the GGUF
  vocabulary and merges, with SmolLM's digit split), encoded without special tokens (SmolLM2 adds no BOS).
* Prompts: lm-evaluation-harness's task YAMLs, re-implemented here from the task JSONL files
  (`$DLP_HOME/data/zeroshot/<task>.jsonl`, written by `scripts/zeroshot_data.py`):
    boolq       "{passage}\\nQuestion: {question}?\\nAnswer:"             " no" | " yes"
    rte         "{sentence1}\\nQuestion: {sentence2} True or False?\\nAnswer:"  " True" | " False"
    hellaswag   preprocess(activity_label + ": " + ctx_a + " " + ctx_b.capitalize())   " " + preprocess(ending)
    winogrande  sentence[:blank] + option (per option)                  " " + sentence[blank+1:].strip()
    arc_*       "Question: {question}\\nAnswer:"                         " " + choice text
    openbookqa  question_stem                                            " " + choice text
    piqa        "Question: {goal}\\nAnswer:"                             " " + sol
    lambada     all words but the last (split on " ")                    " " + last word
* Request encoding: the harness's `_encode_pair` (trailing context whitespace moved to the
  continuation; whole = enc(context + continuation), continuation tokens = whole[len(enc(context)):]),
  model input = (context + continuation)[-(2048 + 1):][:-1]; the log-likelihood is the sum over the
  continuation's tokens of log_softmax(logits) at the positions predicting them (float64 sums), and
  `greedy` is whether every continuation token is the argmax.
* Sequences are run in right-padded batches with an attention mask (exact for a causal model).

Output: `Tests/Fixtures/zeroshot/<model>.json`:
  {"model", "gguf_sha256", "limit", "tasks": {task: {"gold": [...], "ll": [[per choice]], "n": [[continuation
   tokens per choice]], "greedy": [[...]] (lambada only)}}}
log-likelihoods rounded to 1e-5 nats.

The committed fixture holds the first 40 documents of each of the nine tasks (`--limit 40`, about
10 minutes on one contended CPU core; transformers was the bottleneck on the shared machine).

Usage: OMP_NUM_THREADS=1 python3 scripts/reference/zeroshot_reference.py [--limit 40] [--tasks a,b] [--threads 1]
"""
import argparse, hashlib, json, os, re, sys, time
from pathlib import Path

os.environ.pop("OPENBLAS_CORETYPE", None)

import torch
from transformers import AutoModelForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tokenizer_fixture import read_gguf, byte_level  # noqa: E402  (same repository)

ROOT = Path(__file__).resolve().parents[2]
HOME = Path(os.environ.get("DLP_HOME", Path.home() / ".cache/dlp"))
DATA = HOME / "data/zeroshot"
MAX_LENGTH = 2048
TASKS = ["boolq", "rte", "hellaswag", "winogrande", "arc_easy", "arc_challenge", "openbookqa", "piqa", "lambada"]


def hellaswag_clean(text):
    text = text.strip().replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    return text.replace("  ", " ")


def requests(task, doc):
    """(list of (context, continuation), gold) for one document."""
    def mc(context, choices, gold):
        return [(context, " " + c) for c in choices], gold
    if task == "boolq":
        return mc(f"{doc['passage']}\nQuestion: {doc['question']}?\nAnswer:", ["no", "yes"], int(doc["answer"]))
    if task == "rte":
        return mc(f"{doc['sentence1']}\nQuestion: {doc['sentence2']} True or False?\nAnswer:", ["True", "False"],
                  doc["label"])
    if task == "hellaswag":
        ctx = doc["ctx_a"] + " " + doc["ctx_b"].capitalize()
        return mc(hellaswag_clean(doc["activity_label"] + ": " + ctx), [hellaswag_clean(e) for e in doc["endings"]],
                  int(doc["label"]))
    if task == "winogrande":
        i = doc["sentence"].index("_")
        target = " " + doc["sentence"][i + 1:].strip()
        return [(doc["sentence"][:i] + o, target) for o in (doc["option1"], doc["option2"])], {"1": 0, "2": 1}[doc["answer"]]
    if task in ("arc_easy", "arc_challenge"):
        return mc(f"Question: {doc['question']}\nAnswer:", doc["choices"]["text"],
                  doc["choices"]["label"].index(doc["answerKey"]))
    if task == "openbookqa":
        return mc(doc["question_stem"], doc["choices"]["text"], doc["choices"]["label"].index(doc["answerKey"].lstrip()))
    if task == "piqa":
        return mc(f"Question: {doc['goal']}\nAnswer:", [doc["sol1"], doc["sol2"]], doc["label"])
    if task == "lambada":
        words = doc["text"].split(" ")
        return [(" ".join(words[:-1]), " " + words[-1])], 0
    raise SystemExit(f"unknown task {task}")


def encode_pair(tok, context, continuation):
    n = len(context) - len(context.rstrip())
    if n:
        continuation = context[-n:] + continuation
        context = context[:-n]
    whole = tok.encode(context + continuation, add_special_tokens=False).ids
    ctx = tok.encode(context, add_special_tokens=False).ids
    return ctx, whole[len(ctx):]


@torch.no_grad()
def score(model, pairs, batch_tokens=4096):
    """[(ll, greedy)] for token pairs (context ids, continuation ids)."""
    items = []
    for index, (ctx, cont) in enumerate(pairs):
        whole = (ctx + cont)[-(MAX_LENGTH + 1):]
        inp = whole[:-1]
        items.append((index, inp, cont[-len(inp):] if len(cont) > len(inp) else cont))
    items.sort(key=lambda x: -len(x[1]))
    out = [None] * len(pairs)
    start = 0
    while start < len(items):
        width = len(items[start][1])
        count = max(1, batch_tokens // width)
        batch = items[start:start + count]
        start += count
        ids = torch.zeros(len(batch), width, dtype=torch.long)
        mask = torch.zeros(len(batch), width, dtype=torch.long)
        for row, (_, inp, _) in enumerate(batch):
            ids[row, :len(inp)] = torch.tensor(inp)
            mask[row, :len(inp)] = 1
        hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state
        for row, (index, inp, cont) in enumerate(batch):
            n = len(cont)
            positions = torch.arange(len(inp) - n, len(inp))
            targets = torch.tensor(cont)
            logits = model.lm_head(hidden[row, positions])                      # [n, V] fp32
            logp = torch.log_softmax(logits.double(), dim=-1)
            ll = logp[torch.arange(n), targets].sum().item()
            greedy = bool((logits.argmax(-1) == targets).all())
            out[index] = (ll, greedy)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    path = HOME / "models" / f"{args.model}.gguf"
    tok = byte_level(read_gguf(path))
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32).eval()
    result = {"model": args.model, "gguf_sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "limit": args.limit,
              "max_length": MAX_LENGTH, "tasks": {}}
    for task in args.tasks.split(","):
        t0 = time.time()
        with open(DATA / f"{task}.jsonl", encoding="utf-8") as f:
            docs = [json.loads(line) for _, line in zip(range(args.limit), f)]
        built = [requests(task, d) for d in docs]
        pairs = [encode_pair(tok, c, x) for reqs, _ in built for c, x in reqs]
        scores = score(model, pairs)
        entry = {"gold": [], "ll": [], "n": []}
        if task == "lambada":
            entry["greedy"] = []
        k = 0
        for reqs, gold in built:
            part = scores[k:k + len(reqs)]
            entry["gold"].append(gold)
            entry["ll"].append([round(s[0], 5) for s in part])
            entry["n"].append([len(pairs[k + j][1]) for j in range(len(reqs))])
            if task == "lambada":
                entry["greedy"].append([s[1] for s in part])
            k += len(reqs)
        result["tasks"][task] = entry
        print(f"{task}: {len(docs)} docs, {len(pairs)} requests, {time.time() - t0:.1f} s", flush=True)
    out = ROOT / "Tests/Fixtures/zeroshot" / f"{args.model}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, separators=(",", ":")) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
