#!/usr/bin/env python3
"""Checks tokenizer files written by `TokenizerDefinition.writeHuggingFaceFiles(to:)` (as `dlp prune`
exports them) with independent loaders.

For DIR and the model name of a fixture in `Tests/Fixtures/tokenizer/<model>.json`:

* loads DIR/tokenizer.json with `tokenizers.Tokenizer.from_file` and DIR with
  `transformers.AutoTokenizer.from_pretrained`, encodes each stress case and WikiText-2 test (built
  as `tokenizer_fixture.py` builds it) with special tokens, and compares the ids with the fixture
  (literal ids; token count and sha256 for WikiText-2), which the Swift tokenizer matches;
* when `~/.cache/dlp/tokenizers/<model>.json` (the reference tokenizer `tokenizer_fixture.py`
  saves) exists, compares vocabulary, merges and added tokens with it exactly.

Prints one JSON object; exits 1 on any difference.

Usage: python3 scripts/reference/check_tokenizer_json.py DIR MODEL
"""
import argparse, json, os, sys
from pathlib import Path

from tokenizers import Tokenizer
from transformers import AutoTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tokenizer_fixture import ROOT, HOME, corpora, digest  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("directory", type=Path)
    ap.add_argument("model")
    args = ap.parse_args()
    fixture = json.loads((ROOT / "Tests/Fixtures/tokenizer" / f"{args.model}.json").read_text(encoding="utf-8"))
    wiki = corpora()["wikitext2"]
    expected = fixture["corpora"]["wikitext2"]
    encoders = {
        "tokenizers": (lambda tok: lambda s: tok.encode(s, add_special_tokens=True).ids)(
            Tokenizer.from_file(str(args.directory / "tokenizer.json"))),
        "transformers": (lambda tok: lambda s: tok(s, add_special_tokens=True)["input_ids"])(
            AutoTokenizer.from_pretrained(str(args.directory))),
    }
    result, ok = {"model": args.model}, True
    for name, encode in encoders.items():
        bad = [case["text"] for case in fixture["stress"] if encode(case["text"]) != case["ids"]]
        ids = encode(wiki)
        same = len(ids) == expected["count"] and digest(ids) == expected["sha256"]
        result[name] = {"stress_cases": len(fixture["stress"]), "stress_mismatches": bad,
                        "wikitext2_count": len(ids), "wikitext2_digest_matches": same}
        ok = ok and not bad and same
    reference = HOME / "tokenizers" / f"{args.model}.json"
    if reference.exists():
        ours = json.loads((args.directory / "tokenizer.json").read_text(encoding="utf-8"))
        ref = json.loads(reference.read_text(encoding="utf-8"))
        fields = {
            "vocab": (ours["model"]["vocab"], ref["model"]["vocab"]),
            "merges": ([tuple(m) for m in ours["model"]["merges"]], [tuple(m) for m in ref["model"]["merges"]]),
            "added_tokens": (ours["added_tokens"], ref["added_tokens"]),
        }
        result["same_as_reference"] = {k: a == b for k, a, b in ((k, *v) for k, v in fields.items())}
        ok = ok and all(result["same_as_reference"].values())
    result["ok"] = ok
    print(json.dumps(result, indent=1, ensure_ascii=False))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
