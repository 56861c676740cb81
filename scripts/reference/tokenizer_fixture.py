#!/usr/bin/env python3
"""Golden tokenizer fixtures for `TokenizationTests`, built with Hugging Face `tokenizers`.

For each model the tokenizer is rebuilt from the GGUF vocabulary (read with the `gguf` package),
independently of the Swift code:

* smollm2-135m (`gpt2`, pre `smollm`): BPE(vocab, merges) with pre-tokenizers
  Digits(individual_digits=True) then ByteLevel(use_regex=True): every \\p{N} character is its own
  pre-token, then the GPT-2 split (transformers' GGUF conversion drops the digit split; see ASSETS.md).
* qwen2.5-coder-0.5b / -1.5b (`gpt2`, pre `qwen2`): Split(Qwen2 regex, isolated) then
  ByteLevel(use_regex=False). The 1.5b fixture is written only if its vocabulary differs.
* gemma3-270m (`llama`, SentencePiece-style): BPE with byte fallback whose merge list is derived
  from the scores, llama.cpp's `llm_tokenizer_spm` rule: any adjacent pair whose concatenation is
  a token may merge, highest score first. Merges (a, b) are emitted for every split of every token
  into two tokens, ranked by the merged token's score (descending). Normalizer Replace(" ", "▁"),
  no pre-tokenizer (the whole text is one sequence, as in llama.cpp), BOS prepended.

Control (type 3) and user-defined (type 4) tokens are added tokens (normalized=False), matched as
whole strings before pre-tokenization. Encoding is with add_special_tokens=True.

Outputs:
* `Tests/Fixtures/tokenizer/<model>.json`: per corpus the token count and the sha256 of the ids
  as little-endian int32 bytes; the literal ids of each stress case.
* `~/.cache/dlp/tokenizers/<model>.json`: the HF tokenizer.json (a generated asset, not committed).

Corpora (same construction in the Swift tests): WikiText-2 test, non-empty lines joined by "\\n\\n";
PTB test, stripped non-empty lines joined by " "; C4 calibration file as a whole.

Usage: python3 scripts/reference/tokenizer_fixture.py
"""
import hashlib, json, os, struct, sys
from pathlib import Path

import gguf
from tokenizers import Tokenizer, AddedToken, Regex, models, normalizers, pre_tokenizers, decoders, processors

ROOT = Path(__file__).resolve().parents[2]
HOME = Path(os.environ.get("DLP_HOME", Path.home() / ".cache/dlp"))
WIKI = ROOT.parent / "shared/data/wikitext-2-raw/wiki.test.raw"
QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")

STRESS = [
    "Hello world",
    "",
    " ",
    "  leading and trailing spaces  ",
    "tabs\tand\t\tmore\ttabs",
    "whitespace runs:     five,\n\n\nthree newlines,\r\nCRLF,\r\n\r\n and   \n  mixed \t \n",
    "trailing spaces   ",
    "It's, they're, we've, I'm, you'll, he'd, IT'S, THEY'RE, WE'VE, I'M, YOU'LL, HE'D, 'S 'T, 'ſ",
    "digits 1 12 123 1234 12345 1234567890 3.14159 1,000,000",
    "fractions ½ ¼ ¾ and superscripts x² ³ and Roman Ⅻ",
    "Arabic-Indic ٠١٢٣٤٥٦٧٨٩ and Devanagari १२३ digits",
    "CJK: 你好，世界！日本語のテキスト。한국어 텍스트",
    "emoji 😀 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️",
    "combining: e\u0301 n\u0303 a\u030a\u0323 Z\u0335\u0321\u0327",
    "special <|im_start|>user\nhi<|im_end|>\n<|endoftext|> <start_of_turn>model\n<end_of_turn><eos>",
    "partial specials <|im_start <|im_end| <start_of_turn",
    "no-break\u00a0space, ideographic\u3000space, em\u2003space, line\u2028sep",
    "code:\n    def f(x):\n        return x ** 2  # square\n\tif (a&&b) { y = a[0]; }",
    "URL https://example.com/path?q=1&r=2#frag and email a.b@c.de",
    "mixed scripts: Ελληνικά, русский, עברית, العربية, हिन्दी, ไทย",
    "punctuation!!! ??? ... --- *** ((nested)) [[x]] {{y}} <<z>>",
    "\u00a0\u00a0 leading nbsp",
    "a\n",
    "\n\n\n",
    "ﬁ ligature, Å (U+212B), ß, İstanbul, ǅ",
    "\U0001d54f\U0001d56a\U0001d55d math letters and \U0001f1fa\U0001f1f8 flag",
    "\x00control\x07chars\x1b[0m",
]


def read_gguf(path):
    r = gguf.GGUFReader(str(path))
    f = r.fields

    def strs(key):
        fld = f[key]
        return [bytes(fld.parts[i]).decode("utf-8") for i in fld.data]

    def nums(key):
        fld = f.get(key)
        return None if fld is None else [fld.parts[i][0].item() for i in fld.data]

    def scalar(key):
        fld = f.get(key)
        if fld is None:
            return None
        v = fld.parts[fld.data[0]]
        return bytes(v).decode() if fld.types[0] == gguf.GGUFValueType.STRING else v[0].item()

    return dict(model=scalar("tokenizer.ggml.model"), pre=scalar("tokenizer.ggml.pre"),
                tokens=strs("tokenizer.ggml.tokens"), types=nums("tokenizer.ggml.token_type"),
                scores=nums("tokenizer.ggml.scores"),
                merges=strs("tokenizer.ggml.merges") if "tokenizer.ggml.merges" in f else None,
                bos=scalar("tokenizer.ggml.bos_token_id"), add_bos=scalar("tokenizer.ggml.add_bos_token"),
                add_eos=scalar("tokenizer.ggml.add_eos_token"), eos=scalar("tokenizer.ggml.eos_token_id"))


def add_special(tok, v):
    special = [AddedToken(t, special=True, normalized=False) for t, y in zip(v["tokens"], v["types"]) if y == 3]
    user = [AddedToken(t, special=False, normalized=False) for t, y in zip(v["tokens"], v["types"]) if y == 4]
    tok.add_special_tokens(special)
    tok.add_tokens(user)


def byte_level(v):
    vocab = {t: i for i, t in enumerate(v["tokens"])}
    merges = [tuple(m.split(" ", 1)) for m in v["merges"]]
    tok = Tokenizer(models.BPE(vocab, merges))
    if v["pre"] == "smollm":
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                     pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    elif v["pre"] == "qwen2":
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated"),
                                                     pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    else:
        raise SystemExit(f"no reference for pre-tokenizer {v['pre']}")
    tok.decoder = decoders.ByteLevel()
    add_special(tok, v)
    return tok


def sentencepiece_bpe(v):
    toks, scores, types = v["tokens"], v["scores"], v["types"]
    vocab = {t: i for i, t in enumerate(toks)}
    cand = []
    for t, s in zip(toks, scores):
        for k in range(1, len(t)):
            a, b = t[:k], t[k:]
            if a in vocab and b in vocab:
                cand.append((-s, vocab[t], k, a, b))
    cand.sort()
    merges = [(a, b) for _, _, _, a, b in cand]
    unk = toks[v.get("unk", 3)] if False else "<unk>"
    tok = Tokenizer(models.BPE(vocab, merges, unk_token=unk, fuse_unk=True, byte_fallback=True))
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    add_special(tok, v)
    if v["add_bos"]:
        bos = toks[v["bos"]]
        tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A $B",
                                                           special_tokens=[(bos, v["bos"])])
    return tok


def corpora():
    wiki = "\n\n".join(l for l in WIKI.read_text(encoding="utf-8").split("\n") if l)
    ptb = " ".join(s for s in (l.strip() for l in (HOME / "data/ptb/test.txt").read_text(encoding="utf-8").split("\n")) if s)
    c4 = (HOME / "data/c4.utf8").read_text(encoding="utf-8")
    return {"wikitext2": wiki, "ptb": ptb, "c4": c4}


def digest(ids):
    return hashlib.sha256(struct.pack(f"<{len(ids)}i", *ids)).hexdigest()


def vocab_digest(v):
    h = hashlib.sha256()
    for part in (v["tokens"], v["merges"] or [], [str(x) for x in v["types"]], [repr(x) for x in (v["scores"] or [])]):
        h.update("\x00".join(part).encode() + b"\x01")
    return h.hexdigest()


def main():
    texts = corpora()
    seen = {}
    for name in ["smollm2-135m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "gemma3-270m"]:
        v = read_gguf(HOME / f"models/{name}.gguf")
        vd = vocab_digest(v)
        if vd in seen:
            print(f"{name}: same tokenizer as {seen[vd]}; no separate fixture", file=sys.stderr)
            continue
        seen[vd] = name
        tok = byte_level(v) if v["model"] == "gpt2" else sentencepiece_bpe(v)
        out = HOME / "tokenizers" / f"{name}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        tok.save(str(out))
        fx = {"model": name, "tokenizer_model": v["model"], "pre": v["pre"], "vocab_digest": vd, "corpora": {}, "stress": []}
        for cname, text in texts.items():
            ids = tok.encode(text, add_special_tokens=True).ids
            fx["corpora"][cname] = {"count": len(ids), "sha256": digest(ids)}
            rt = tok.decode(ids, skip_special_tokens=False)
            print(f"{name} {cname}: {len(ids)} tokens, decode round trip {'ok' if rt == text else 'DIFFERS'}", file=sys.stderr)
        for s in STRESS:
            fx["stress"].append({"text": s, "ids": tok.encode(s, add_special_tokens=True).ids})
        dst = ROOT / "Tests/Fixtures/tokenizer" / f"{name}.json"
        dst.write_text(json.dumps(fx, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {dst}", file=sys.stderr)


if __name__ == "__main__":
    main()
