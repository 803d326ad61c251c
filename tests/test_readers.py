"""Reader tests: every format, option and bad-input case. Fixture files are written to tmp_path."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest

from phrasecheck.readers import (
    ROLE_ALIASES,
    ConversationReader,
    conversations_from_frame,
    expand_inputs,
    read_conversations,
    read_file,
    read_stream,
)
from phrasecheck.types import Conversation, ReadError


def write(tmp_path: Path, name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode(encoding)
    p.write_bytes(content)
    return p


def split(results: Any) -> tuple[list[Conversation], list[ReadError]]:
    convs: list[Conversation] = []
    errors: list[ReadError] = []
    for r in results:
        (errors if isinstance(r, ReadError) else convs).append(r)
    return convs, errors


def read(path: Path, **options: Any) -> tuple[list[Conversation], list[ReadError]]:
    return split(read_file(path, **options))


def turns(conv: Conversation) -> list[tuple[str, str]]:
    return [(t.role, t.text) for t in conv.turns]


# ------------------------------------------------------------------ txt

TXT_CASES = [
    ("ascii colon", "坐席: 您好\n客户: 你好\n", [("agent", "您好"), ("customer", "你好")]),
    ("full-width colon", "客服：您好，请问有什么可以帮您？\n市民：我想问一下\n",
     [("agent", "您好，请问有什么可以帮您？"), ("customer", "我想问一下")]),
    ("aliases, any case", "AGENT: a\nCaller: b\nIVR: c\n系统：d\n工作人员：e\n患者：f\n",
     [("agent", "a"), ("customer", "b"), ("system", "c"), ("system", "d"), ("agent", "e"),
      ("customer", "f")]),
    ("continuation lines", "坐席：您好\n请问有什么可以帮您\n客户：我想问\n  社保卡的事\n",
     [("agent", "您好\n请问有什么可以帮您"), ("customer", "我想问\n社保卡的事")]),
    ("blank lines ignored", "\n\n坐席：您好\n\n\n客户：嗯\n\n",
     [("agent", "您好"), ("customer", "嗯")]),
    ("colon inside text", "客户：时间是10:30：对吗\n", [("customer", "时间是10:30：对吗")]),
    ("unknown label is continuation", "坐席：您好\n小王：你好\n",
     [("agent", "您好\n小王：你好")]),
    ("CRLF line endings", "坐席：您好\r\n客户：嗯\r\n", [("agent", "您好"), ("customer", "嗯")]),
]


@pytest.mark.parametrize(("name", "content", "expected"), TXT_CASES, ids=[c[0] for c in TXT_CASES])
def test_txt_turns(tmp_path: Path, name: str, content: str,
                   expected: list[tuple[str, str]]) -> None:
    convs, errors = read(write(tmp_path, "call_7.txt", content))
    assert errors == []
    assert len(convs) == 1
    assert convs[0].id == "call_7"
    assert turns(convs[0]) == expected
    assert [t.index for t in convs[0].turns] == list(range(len(expected)))
    assert convs[0].metadata["format"] == "txt"
    assert convs[0].metadata["source"].endswith("call_7.txt")


TIMESTAMPS = [
    ("[00:01:05] 坐席：您好", 65.0, None),
    ("00:01:05 坐席：您好", 65.0, None),
    ("[01:05] 坐席：您好", 65.0, None),
    ("[00:01:05.250] 坐席：您好", 65.25, None),
    ("[00:01:05,5] 坐席：您好", 65.5, None),
    ("【00:00:03】坐席：您好", 3.0, None),
    ("[00:00:03 - 00:00:07.5] 坐席：您好", 3.0, 7.5),
    ("[1:02:03] 坐席：您好", 3723.0, None),
    ("坐席：您好", None, None),
]


@pytest.mark.parametrize(("line", "start", "end"), TIMESTAMPS)
def test_txt_timestamps(tmp_path: Path, line: str, start: float | None, end: float | None) -> None:
    convs, errors = read(write(tmp_path, "t.txt", line + "\n"))
    assert errors == []
    t = convs[0].turns[0]
    assert (t.role, t.text, t.start, t.end) == ("agent", "您好", start, end)


def test_txt_header_metadata_and_lines(tmp_path: Path) -> None:
    content = ("# agent_id: 1024\n# Domain：hotline\n#channel: phone\n\n"
               "坐席：您好\n客户：你好\n接着说\n坐席：好的\n")
    [conv], errors = read(write(tmp_path, "h.txt", content))
    assert errors == []
    assert conv.metadata["agent_id"] == "1024"
    assert conv.metadata["domain"] == "hotline"
    assert conv.metadata["channel"] == "phone"
    assert [t.line for t in conv.turns] == [5, 6, 8]
    assert [t.speaker for t in conv.turns] == ["坐席", "客户", "坐席"]


def test_txt_header_id_overrides_stem(tmp_path: Path) -> None:
    [conv], _ = read(write(tmp_path, "x.txt", "# id: 2024/03 call #5\n坐席：您好\n"))
    assert conv.id == "2024/03 call #5"


def test_txt_line_without_prefix_before_first_turn(tmp_path: Path) -> None:
    content = "通话记录导出\n坐席：您好\n客户：嗯\n"
    [conv], errors = read(write(tmp_path, "p.txt", content))
    assert [(e.line, e.reason, e.conversation_id) for e in errors] == [
        (1, "no speaker prefix", "p")]
    assert turns(conv) == [("agent", "您好"), ("customer", "嗯")]
    assert "p.txt: line 1: no speaker prefix" in str(errors[0])


def test_txt_many_lines_without_prefix_are_summarised(tmp_path: Path) -> None:
    # layout="labelled": every line must carry a speaker prefix (by default such a file is
    # an undiarised transcript; tests/test_mono.py)
    content = "".join(f"随便写点什么 {i}\n" for i in range(100))
    convs, errors = read(write(tmp_path, "prose.txt", content), layout="labelled")
    assert convs == []
    assert len(errors) == 12  # 10 listed, one summary, one "no turns"
    assert errors[-2].reason.startswith("90 more lines")
    assert errors[-1].reason == "no turns"


@pytest.mark.parametrize(("content", "reason"), [
    ("", "empty file"),
    ("\n\n   \n", "empty file"),
    ("# agent_id: 1\n# domain: bank\n", "no turns"),
    ("坐席：\n客户：   \n", "no turns"),
])
def test_txt_empty_or_no_turns(tmp_path: Path, content: str, reason: str) -> None:
    convs, errors = read(write(tmp_path, "e.txt", content))
    assert convs == []
    assert [(e.line, e.reason) for e in errors] == [(None, reason)]


def test_role_map_merges_over_defaults(tmp_path: Path) -> None:
    p = write(tmp_path, "r.txt", "值班长：您好\n客户：你好\n来宾: 谢谢\n")
    [conv], errors = read(p, role_map={"值班长": "agent", "来宾": "customer"})
    assert errors == []
    assert [t.role for t in conv.turns] == ["agent", "customer", "customer"]
    assert ROLE_ALIASES["坐席"] == "agent"  # defaults untouched
    with pytest.raises(ValueError, match="role must be one of"):
        read_file(p, role_map={"值班长": "boss"})


@pytest.mark.parametrize("label", ["说话人1", "说话人 2", "发言人1", "SPEAKER_00", "spk0",
                                   "Speaker 1", "A", "B", "甲", "乙"])
def test_txt_speaker_labels(tmp_path: Path, label: str) -> None:
    p = write(tmp_path, "s.txt", f"{label}：您好 这里是 热线\n")
    [conv], errors = read(p, infer_roles=False)
    assert errors == []
    assert conv.turns[0].speaker == label
    assert conv.turns[0].role == "unknown"


# ------------------------------------------------------------------ encodings

SAMPLE = "# domain: social\n工作人员：您好，请问办理什么业务？\n群众：我想补办社保卡。\n"


@pytest.mark.parametrize(("encoding", "prefix"), [
    ("utf-8", b""),
    ("utf-8", b"\xef\xbb\xbf"),
    ("utf-16-le", b"\xff\xfe"),
    ("utf-16-be", b"\xfe\xff"),
    ("utf-16-le", b""),  # no BOM: recognised from the NUL pattern
    ("gbk", b""),
    ("gb18030", b""),
])
def test_encodings_detected(tmp_path: Path, encoding: str, prefix: bytes) -> None:
    p = write(tmp_path, "enc.txt", prefix + SAMPLE.encode(encoding))
    [conv], errors = read(p)
    assert errors == []
    assert conv.metadata["domain"] == "social"
    assert turns(conv) == [("agent", "您好，请问办理什么业务？"), ("customer", "我想补办社保卡。")]


def test_gbk_short_sample_is_not_mistaken_for_korean(tmp_path: Path) -> None:
    [conv], errors = read(write(tmp_path, "k.txt", "客户：你好\n", encoding="gbk"))
    assert errors == []
    assert conv.turns[0].text == "你好"


def test_gbk_json_and_csv(tmp_path: Path) -> None:
    rows = "conversation_id,role,text\nc1,坐席,您好\nc1,客户,请问社保卡怎么办\n"
    [conv], errors = read(write(tmp_path, "g.csv", rows, encoding="gbk"))
    assert errors == [] and conv.turns[1].text == "请问社保卡怎么办"
    doc = json.dumps({"id": "j", "turns": [{"role": "坐席", "text": "您好，请稍等"}]},
                     ensure_ascii=False)
    [conv], errors = read(write(tmp_path, "g.json", doc, encoding="gb18030"))
    assert errors == [] and conv.turns[0].text == "您好，请稍等"


def test_encoding_override(tmp_path: Path) -> None:
    p = write(tmp_path, "o.txt", SAMPLE, encoding="gbk")
    [conv], errors = read(p, encoding="gbk")
    assert errors == [] and conv.turns[0].text == "您好，请问办理什么业务？"
    # a wrong override is not fatal: each line that does not decode is reported
    convs, errors = read(p, encoding="utf-8")
    assert convs == []
    assert [(e.line, e.reason) for e in errors] == [
        (2, "cannot decode bytes as utf-8 (undecodable bytes on this line)"),
        (3, "cannot decode bytes as utf-8 (undecodable bytes on this line)"),
        (None, "no turns")]
    convs, errors = read(p, encoding="no-such-codec")
    assert convs == [] and errors[0].reason == "unknown encoding 'no-such-codec'"
    # an explicit utf-8 on a file with a BOM does not leave the BOM in the text
    bom = write(tmp_path, "bom.json", b"\xef\xbb\xbf" + json.dumps(conv_obj("b", "x")).encode())
    assert read(bom, encoding="utf-8")[0][0].id == "b"


def test_decode_error_later_in_file_costs_one_line(tmp_path: Path) -> None:
    filler = "".join(f"坐席：第{i}句话，您好\n客户：好的\n" for i in range(3000))  # > 64 KB
    data = (filler.encode("utf-8") + "客户：坏".encode() + b"\xff\xfe\xfd"
            + "字节\n坐席：再见\n".encode())
    assert len(data) > 64 * 1024
    [conv], errors = read(write(tmp_path, "late.txt", data))
    assert len(errors) == 1
    assert errors[0].line == 6001
    assert "cannot decode bytes as utf-8" in errors[0].reason
    assert conv.turns[-1].text == "再见"
    assert len(conv.turns) == 6001


def test_undecodable_file_names_the_encodings_tried(tmp_path: Path) -> None:
    convs, errors = read(write(tmp_path, "u.txt", bytes(range(0x80, 0x100)) * 10))
    assert convs == []
    assert len(errors) == 1
    assert errors[0].line is None
    assert "UTF-8" in errors[0].reason and "GB18030" in errors[0].reason


@pytest.mark.parametrize("suffix", [".txt", ".jsonl", ".json", ".csv"])
def test_binary_junk_is_one_error(tmp_path: Path, suffix: str) -> None:
    import random

    rng = random.Random(1)
    junk = bytes(rng.randrange(256) for _ in range(200_000))
    convs, errors = read(write(tmp_path, "junk" + suffix, junk))
    assert convs == []
    assert [(e.line, e.reason) for e in errors] == [(None, "binary file, not text")]


def test_binary_xlsx_suffix_is_one_error(tmp_path: Path) -> None:
    convs, errors = read(write(tmp_path, "junk.xlsx", b"PK\x03\x04 not really a zip" * 100))
    assert convs == [] and len(errors) == 1
    assert errors[0].reason.startswith("not a readable xlsx workbook")


FIVE_MB = 5 * 1024 * 1024


@pytest.mark.parametrize(("suffix", "content"), [
    (".txt", "x" * FIVE_MB),
    (".txt", "坐席：" + "好" * FIVE_MB),
    (".jsonl", "x" * FIVE_MB),
    (".jsonl", '{"conversation_id": "' + "x" * FIVE_MB),
    (".json", "x" * FIVE_MB),
    (".json", '["' + "x" * FIVE_MB),
    (".json", "[" + "{" * FIVE_MB),
    (".csv", "x" * FIVE_MB),
    (".csv", 'conversation_id,role,text\n"' + "x" * FIVE_MB),
])
def test_five_megabyte_single_line(tmp_path: Path, suffix: str, content: str) -> None:
    import tracemalloc

    p = write(tmp_path, "big" + suffix, content)
    size = p.stat().st_size
    tracemalloc.start()
    try:
        convs, errors = read(p)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(convs) + len(errors) >= 1
    assert len(errors) <= 3
    assert peak < 3 * size + 2 * 1024 * 1024, f"peak {peak / size:.1f}x the file size"


def test_truncated_huge_json_element(tmp_path: Path) -> None:
    # not junk: a well-formed but unfinished conversation of 200 000 turns (7 MB)
    content = '[{"id": "a", "turns": [' + '{"role": "agent", "text": "x"},' * 200_000
    convs, errors = read(write(tmp_path, "cut.json", content), max_chars=2_000_000)
    assert convs == []
    assert [(e.line, e.reason.split(":")[0]) for e in errors] == [
        (1, "truncated JSON"), (None, "no turns")]


def test_over_long_line_is_skipped_without_keeping_it(tmp_path: Path, monkeypatch: Any) -> None:
    from phrasecheck.readers import _text

    monkeypatch.setattr(_text, "MAX_LINE_CHARS", 1000)
    source = _text.TextSource(io.StringIO("a\n" + "y" * 5000 + "\nb"))
    assert list(source.lines(max_chars=1000)) == [(1, "a"), (2, None), (3, "b")]


def test_text_source_lines_handle_every_line_ending() -> None:
    from phrasecheck.readers._text import TextSource

    class Tiny(io.StringIO):
        def read(self, size: int | None = -1) -> str:
            return super().read(1)  # one character at a time: \r and \n in separate chunks

    lines = list(TextSource(Tiny("a\r\nb\rc\n\nd")).lines())
    assert lines == [(1, "a"), (2, "b"), (3, "c"), (4, ""), (5, "d")]


# ------------------------------------------------------------------ jsonl

def jl(*objs: Any) -> str:
    return "".join((o if isinstance(o, str) else json.dumps(o, ensure_ascii=False)) + "\n"
                   for o in objs)


def test_jsonl_messages(tmp_path: Path) -> None:
    content = jl(
        {"conversation_id": "c1", "role": "坐席", "text": "您好", "ts": "2024-03-01T10:00:00",
         "agent_id": "A7", "domain": "bank"},
        {"conversation_id": "c1", "role": "customer", "text": "你好", "ts": "2024-03-01T10:00:04"},
        {"conversation_id": "c2", "role": "agent", "text": "您好", "ts": 1.5, "channel": "chat"},
        {"conversation_id": "c2", "role": "user", "text": "在吗", "ts": "00:00:09", "end": 10},
        {"conversation_id": 3, "role": "agent", "text": 42, "start": 2, "speaker": "小王"},
    )
    convs, errors = read(write(tmp_path, "m.jsonl", content))
    assert errors == []
    assert [c.id for c in convs] == ["c1", "c2", "3"]
    c1, c2, c3 = convs
    assert turns(c1) == [("agent", "您好"), ("customer", "你好")]
    assert [t.start for t in c1.turns] == [0.0, 4.0]
    assert c1.metadata["agent_id"] == "A7" and c1.metadata["domain"] == "bank"
    assert "ts" not in c1.metadata
    assert [(t.start, t.end) for t in c2.turns] == [(1.5, None), (9.0, 10.0)]
    assert c2.metadata["channel"] == "chat"
    assert [t.line for t in c2.turns] == [3, 4]
    assert (c3.turns[0].text, c3.turns[0].speaker, c3.turns[0].start) == ("42", "小王", 2.0)
    assert c1.metadata["format"] == "jsonl"


def test_jsonl_whole_conversations(tmp_path: Path) -> None:
    content = jl(
        {"id": "k1", "turns": [{"role": "agent", "text": "您好", "start": 0, "end": 1.2},
                               {"role": "customer", "text": "嗯", "speaker": "客户"}],
         "metadata": {"agent_id": "9", "domain": "hotline"}, "channel": "phone"},
        {"id": "k2", "turns": [{"role": "agent", "text": "再见"}]},
    )
    convs, errors = read(write(tmp_path, "w.jsonl", content))
    assert errors == []
    assert [c.id for c in convs] == ["k1", "k2"]
    assert turns(convs[0]) == [("agent", "您好"), ("customer", "嗯")]
    assert convs[0].turns[0].end == 1.2
    assert convs[0].metadata["agent_id"] == "9" and convs[0].metadata["channel"] == "phone"
    assert [t.line for t in convs[1].turns] == [2]


def test_jsonl_field_names(tmp_path: Path) -> None:
    content = jl({"call_id": "x", "who": "坐席", "content": "您好", "time": 3},
                 {"call_id": "x", "who": "客户", "content": "在", "time": 5})
    [conv], errors = read(write(tmp_path, "f.jsonl", content),
                          fields={"conversation_id": "call_id", "role": "who",
                                  "text": "content", "ts": "time"})
    assert errors == []
    assert turns(conv) == [("agent", "您好"), ("customer", "在")]
    assert [t.start for t in conv.turns] == [3.0, 5.0]
    assert "call_id" not in conv.metadata and "time" not in conv.metadata
    with pytest.raises(ValueError, match="unknown field"):
        read_file(tmp_path / "f.jsonl", fields={"txet": "content"})


def test_jsonl_bad_lines_are_reported_and_the_rest_read(tmp_path: Path) -> None:
    content = jl(
        {"conversation_id": "a", "role": "agent", "text": "您好"},
        '{"conversation_id": "a", "role": "customer", "text": "坏',      # 2 malformed
        {"conversation_id": "a", "role": "customer", "text": "好的"},
        {"conversation_id": "a", "role": "agent"},                        # 4 no text
        {"conversation_id": "a", "text": "谁说的"},                       # 5 no role
        {"role": "agent", "text": "没有id"},                              # 6 no id
        "[1, 2]",                                                         # 7 not an object
        {"conversation_id": "b", "role": "agent", "text": "您好"},
        {"conversation_id": "a", "role": "agent", "text": "又回来了"},    # 9 non-contiguous
        {"conversation_id": "a", "role": "agent", "text": "还是a"},       # 10 non-contiguous
        {"conversation_id": "c", "role": "agent", "text": "您好", "ts": "yesterday"},  # 11
    )
    convs, errors = read(write(tmp_path, "bad.jsonl", content))
    assert [c.id for c in convs] == ["a", "b", "c"]
    assert turns(convs[0]) == [("agent", "您好"), ("customer", "好的")]
    # a message without a role is an error once its conversation ends (a conversation with
    # no role at all would be an undiarised transcript), so line 5 is reported after 6 and 7
    errors.sort(key=lambda e: e.line or 0)
    assert [(e.line, e.conversation_id) for e in errors] == [
        (2, None), (4, "a"), (5, "a"), (6, None), (7, None), (9, "a"), (10, "a"), (11, "c")]
    assert errors[0].reason.startswith("malformed JSON")
    assert "without 'text'" in errors[1].reason
    assert "without 'role' or 'speaker'" in errors[2].reason
    assert "without 'conversation_id'" in errors[3].reason
    assert "contiguous" in errors[5].reason
    assert "not a time" in errors[7].reason
    assert convs[2].turns[0].start is None  # kept without its time


def test_jsonl_conversation_whose_every_message_is_bad(tmp_path: Path) -> None:
    content = jl({"conversation_id": "z", "role": "agent", "text": ""},
                 {"conversation_id": "z", "role": "agent"})
    convs, errors = read(write(tmp_path, "z.jsonl", content))
    assert convs == []
    assert [e.conversation_id for e in errors] == ["z", "z", "z"]
    assert errors[-1].reason == "no turns"


def test_jsonl_empty_and_junk(tmp_path: Path) -> None:
    assert read(write(tmp_path, "e.jsonl", ""))[1][0].reason == "empty file"
    convs, errors = read(write(tmp_path, "j.jsonl", "hello\nworld\n"))
    assert convs == [] and [e.line for e in errors] == [1, 2, None]
    assert errors[-1].reason == "no turns"


def test_read_stream_jsonl() -> None:
    stream = io.StringIO(jl({"conversation_id": "s", "role": "agent", "text": "您好"}, "oops"))
    convs, errors = split(read_stream(stream))
    assert [c.id for c in convs] == ["s"]
    assert [(e.path, e.line) for e in errors] == [("<stdin>", 2)]
    convs, _ = split(read_stream(io.StringIO("坐席：您好\n"), name="x.txt", format="txt"))
    assert convs[0].id == "x"
    with pytest.raises(ValueError, match="unknown format"):
        read_stream(io.StringIO(""), format="docx")


# ------------------------------------------------------------------ json

def conv_obj(cid: str, *texts: str) -> dict[str, Any]:
    roles = ["agent", "customer"]
    return {"id": cid, "turns": [{"role": roles[i % 2], "text": t} for i, t in enumerate(texts)],
            "metadata": {"domain": "court"}}


@pytest.mark.parametrize("shape", ["object", "array", "wrapped", "wrapped-late-key"])
def test_json_shapes(tmp_path: Path, shape: str) -> None:
    a, b = conv_obj("a", "您好", "你好"), conv_obj("b", "再见")
    doc: Any = {"object": a, "array": [a, b], "wrapped": {"conversations": [a, b]},
                "wrapped-late-key": {"version": 1, "conversations": [a, b]}}[shape]
    convs, errors = read(write(tmp_path, "d.json", json.dumps(doc, ensure_ascii=False, indent=2)))
    assert errors == []
    assert [c.id for c in convs] == (["a"] if shape == "object" else ["a", "b"])
    assert turns(convs[0]) == [("agent", "您好"), ("customer", "你好")]
    assert convs[0].metadata["domain"] == "court" and convs[0].metadata["format"] == "json"


def test_json_array_of_messages(tmp_path: Path) -> None:
    doc = [{"conversation_id": "m", "role": "agent", "text": "您好"},
           {"conversation_id": "m", "role": "customer", "text": "嗯"}]
    [conv], errors = read(write(tmp_path, "msg.json", json.dumps(doc)))
    assert errors == [] and turns(conv) == [("agent", "您好"), ("customer", "嗯")]


def pretty_array(objs: list[Any]) -> str:
    return "[\n" + ",\n".join("  " + json.dumps(o, ensure_ascii=False, indent=2)
                              .replace("\n", "\n  ") for o in objs) + "\n]\n"


def test_json_streams_a_large_array(tmp_path: Path) -> None:
    objs = [conv_obj(f"c{i}", "您好" * 50, "好的" * 50) for i in range(2000)]  # ~1.5 MB
    convs, errors = read(write(tmp_path, "big.json", pretty_array(objs)))
    assert errors == []
    assert [c.id for c in convs] == [f"c{i}" for i in range(2000)]
    # line numbers point at each element's opening brace
    text = (tmp_path / "big.json").read_text(encoding="utf-8").split("\n")
    line = convs[1500].turns[0].line
    assert line is not None and text[line - 1].strip() == "{"


def test_json_malformed_element_in_the_middle(tmp_path: Path) -> None:
    good = pretty_array([conv_obj("a", "一"), conv_obj("b", "二"), conv_obj("c", "三")])
    broken = good.replace('"id": "b",', '"id": "b"', 1)  # missing comma inside element b
    lines = broken.split("\n")
    b_line = next(i for i, ln in enumerate(lines, 1) if '"id": "b"' in ln) - 1
    convs, errors = read(write(tmp_path, "mid.json", broken))
    assert [c.id for c in convs] == ["a", "c"]
    assert len(errors) == 1
    assert errors[0].line == b_line and errors[0].reason.startswith("malformed JSON")


def test_json_truncated_at_the_end(tmp_path: Path) -> None:
    good = pretty_array([conv_obj("a", "一"), conv_obj("b", "二")])
    cut = good[: good.index('"二"') + 2]
    convs, errors = read(write(tmp_path, "cut.json", cut))
    assert [c.id for c in convs] == ["a"]
    assert len(errors) == 1 and errors[0].reason.startswith("truncated JSON")
    assert errors[0].line == next(i for i, ln in enumerate(cut.split("\n"), 1)
                                  if '"id": "b"' in ln) - 1


def test_json_compact_array_with_bad_element_stops_with_a_note(tmp_path: Path) -> None:
    a, c = json.dumps(conv_obj("a", "一")), json.dumps(conv_obj("c", "三"))
    doc = f"[{a}, {{bad}}, {c}]"
    convs, errors = read(write(tmp_path, "compact.json", doc))
    assert [c.id for c in convs] == ["a"]
    assert [e.line for e in errors] == [1, 1]
    assert "rest of the file not read" in errors[1].reason


@pytest.mark.parametrize(("content", "reason"), [
    ("", "empty file"),
    ("   \n", "empty file"),
    ("[]", "no turns"),
    ('"just a string"', "not a JSON conversation file"),
    ('{"id": "x", "turns": "nope"}', "'turns' is not a list"),
    ('{"id": "x", "turns": []}', "no turns"),
    ('[{"id": "x", "turns": [{"role": "agent", "text": "hi"}]}', "truncated JSON"),
])
def test_json_bad_documents(tmp_path: Path, content: str, reason: str) -> None:
    _, errors = read(write(tmp_path, "bad.json", content))
    assert errors and errors[0].reason.startswith(reason)


def test_json_duplicate_ids(tmp_path: Path) -> None:
    doc = [conv_obj("a", "一"), conv_obj("a", "二")]
    convs, errors = read(write(tmp_path, "dup.json", json.dumps(doc)))
    assert [c.turns[0].text for c in convs] == ["一"]
    assert "duplicate conversation id 'a'" in errors[0].reason


# ------------------------------------------------------------------ csv / xlsx

CSV = ("conversation_id,turn,role,text,start,end,agent_id,domain\n"
       "b1,0,坐席,您好，请问有什么可以帮您？,0,2.5,A1,bank\n"
       "b1,1,客户,\"我想问，\n信用卡的事\",3,6,A1,bank\n"
       "b2,1,customer,第二句,,,A2,bank\n"
       "b2,0,agent,第一句,,,A2,\n")


def test_csv(tmp_path: Path) -> None:
    convs, errors = read(write(tmp_path, "t.csv", CSV))
    assert errors == []
    b1, b2 = convs
    assert turns(b1) == [("agent", "您好，请问有什么可以帮您？"),
                         ("customer", "我想问，\n信用卡的事")]
    assert [(t.start, t.end, t.line) for t in b1.turns] == [(0.0, 2.5, 2), (3.0, 6.0, 3)]
    assert b1.metadata["agent_id"] == "A1" and b1.metadata["format"] == "csv"
    assert turns(b2) == [("agent", "第一句"), ("customer", "第二句")]  # ordered by `turn`
    assert [t.line for t in b2.turns] == [6, 5]


def test_csv_field_names_and_errors(tmp_path: Path) -> None:
    content = ("call,who,content,queue\n"
               "x,坐席,您好,vip\n"
               "x,客户,,vip\n"           # 3: no text
               "y,坐席,您好,std\n"
               "x,坐席,又是x,vip\n")     # 5: non-contiguous
    convs, errors = read(write(tmp_path, "f.csv", content),
                         fields={"conversation_id": "call", "role": "who", "text": "content"})
    assert [c.id for c in convs] == ["x", "y"]
    assert convs[0].metadata["queue"] == "vip"
    assert [(e.line, e.conversation_id) for e in errors] == [(3, "x"), (5, "x")]


def test_csv_missing_columns(tmp_path: Path) -> None:
    convs, errors = read(write(tmp_path, "m.csv", "id,speaker,content\n1,a,b\n"))
    assert convs == [] and len(errors) == 1
    assert errors[0].line == 1
    assert "'conversation_id'" in errors[0].reason and "columns: 'id'" in errors[0].reason


def test_csv_empty(tmp_path: Path) -> None:
    assert read(write(tmp_path, "e.csv", ""))[1][0].reason == "empty file"
    assert read(write(tmp_path, "h.csv", "conversation_id,role,text\n"))[1][0].reason == "no turns"


def make_xlsx(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    assert wb.active is not None
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


def test_xlsx(tmp_path: Path) -> None:
    rows: list[list[Any]] = [
            ["conversation_id", "role", "text", "start", "domain"],
            [1001, "导诊", "您好，请问挂什么科？", dt.time(0, 0, 1), "hospital"],
            [1001, "患者", "看牙", 3.5, "hospital"],
            [None, None, None, None, None],
            [1002, "导诊", None, None, "hospital"],   # row 5: no text
            [1002, "导诊", "您好", None, "hospital"]]
    p = make_xlsx(tmp_path / "h.xlsx", {"notes": [["not", "this"]], "turns": rows})
    convs, errors = read(p)
    assert [c.id for c in convs] == ["1001", "1002"]
    assert turns(convs[0]) == [("agent", "您好，请问挂什么科？"), ("customer", "看牙")]
    assert [t.start for t in convs[0].turns] == [1.0, 3.5]
    assert [t.line for t in convs[0].turns] == [2, 3]
    assert convs[0].metadata["domain"] == "hospital" and convs[0].metadata["format"] == "xlsx"
    assert [(e.line, e.conversation_id) for e in errors] == [(5, "1002")]


def test_xlsx_first_sheet_and_field_names(tmp_path: Path) -> None:
    p = make_xlsx(tmp_path / "f.xlsx", {
        "Sheet A": [["会话", "角色", "内容"], ["a", "柜员", "您好"]],
        "Sheet B": [["x"], ["y"]]})
    [conv], errors = read(p, fields={"conversation_id": "会话", "role": "角色", "text": "内容"})
    assert errors == [] and turns(conv) == [("agent", "您好")]


# ------------------------------------------------------------------ DataFrame

def test_conversations_from_frame() -> None:
    import pandas as pd

    df = pd.DataFrame({
        "cid": ["a", "a", "b", "a", "b"],
        "who": ["坐席", "客户", "说话人1", "坐席", "说话人2"],
        "said": ["您好", "你好", "喂", "再见", "您好 这里是 热线 请问 有什么 可以 帮 您"],
        "t": [0.0, 1.0, 0.0, 2.0, 1.0],
        "n": [0, 1, 0, 2, 1],
        "agent_id": ["A", "A", "B", "A", "B"],
    })
    convs = list(conversations_from_frame(df, id="cid", role="who", text="said", start="t",
                                          turn="n", metadata=["agent_id"]))
    assert [c.id for c in convs] == ["a", "b"]
    assert turns(convs[0]) == [("agent", "您好"), ("customer", "你好"), ("agent", "再见")]
    assert convs[0].metadata == {"agent_id": "A", "source": "<DataFrame>", "format": "frame"}
    assert [t.role for t in convs[1].turns] == ["customer", "agent"]
    assert convs[1].metadata["role_inference"]["agent_speaker"] == "说话人2"
    errors: list[ReadError] = []
    df2 = pd.DataFrame({"conversation_id": [1.0, 1.0], "role": ["agent", "agent"],
                        "text": ["hi", float("nan")]})
    [c] = conversations_from_frame(df2, on_error=errors.append)
    assert c.id == "1" and len(c.turns) == 1 and len(errors) == 1
    with pytest.raises(KeyError, match="no column 'said'"):
        conversations_from_frame(df2, text="said")


def test_frame_with_nullable_and_numpy_values() -> None:
    import numpy as np
    import pandas as pd

    df = pd.DataFrame({
        "conversation_id": pd.array(["a", "a", None], dtype="string"),
        "role": ["agent", "customer", "agent"],
        "text": pd.array(["您好", pd.NA, "x"], dtype="string"),
        "start": [pd.Timestamp("2024-01-01 10:00:00"), pd.NaT, pd.Timestamp("2024-01-01 10:00:05")],
        "queue": pd.array([3, pd.NA, 4], dtype="Int64"),
    })
    errors: list[ReadError] = []
    [conv] = conversations_from_frame(df, start="start", on_error=errors.append)
    assert turns(conv) == [("agent", "您好")] and conv.turns[0].start == 0.0
    assert conv.metadata["queue"] == 3 and type(conv.metadata["queue"]) is int
    assert [e.conversation_id for e in errors] == ["a", None]
    df2 = pd.DataFrame({"conversation_id": np.array([7, 7]), "role": ["agent", "customer"],
                        "text": np.array([1, 2]), "end": np.array([0.5, 1.0])})
    [conv] = conversations_from_frame(df2, end="end")
    assert conv.id == "7" and [t.text for t in conv.turns] == ["1", "2"]
    assert [t.end for t in conv.turns] == [0.5, 1.0]


# ------------------------------------------------------------------ inputs and batches

def test_expand_inputs(tmp_path: Path, monkeypatch: Any) -> None:
    for name in ["b/2.txt", "b/1.txt", "b/sub/3.jsonl", "b/notes.docx", "b/README.md",
                 "b/gold.csv", "b/data.csv", "b/.hidden.txt", "b/~$lock.xlsx", "c/x.log"]:
        write(tmp_path, name, "坐席：您好\n")
    monkeypatch.chdir(tmp_path)
    files, unmatched = expand_inputs("b")
    assert [p.as_posix() for p in files] == ["b/1.txt", "b/2.txt", "b/data.csv", "b/sub/3.jsonl"]
    assert unmatched == []
    files, unmatched = expand_inputs(["b/**/*.jsonl", "c/x.log", "b/1.txt", "nope.txt", "z/*.txt",
                                      "b/gold.csv", Path("b/2.txt")])
    assert [p.as_posix() for p in files] == ["b/sub/3.jsonl", "c/x.log", "b/1.txt", "b/gold.csv",
                                             "b/2.txt"]
    assert unmatched == ["nope.txt", "z/*.txt"]
    files, _ = expand_inputs(["b/*", "b"], exclude=())
    assert "b/gold.csv" in [p.as_posix() for p in files]
    assert len(files) == len({p.resolve() for p in files})  # each file once
    assert expand_inputs("c") == ([], ["c"])  # no transcript suffix inside
    assert expand_inputs("-") == ([Path("-")], [])
    with pytest.raises(TypeError):
        expand_inputs(42)  # type: ignore[arg-type]


def test_read_conversations_batch(tmp_path: Path) -> None:
    write(tmp_path, "in/a.txt", "坐席：您好\n客户：嗯\n")
    write(tmp_path, "in/b.txt", b"\x00\x01binary")
    write(tmp_path, "in/c.jsonl", jl({"conversation_id": "c", "role": "agent", "text": "您好"},
                                     "{broken"))
    write(tmp_path, "in/d.txt", "")
    seen: list[ReadError] = []
    reader = read_conversations([tmp_path / "in", str(tmp_path / "missing.txt")],
                                on_error=seen.append)
    assert isinstance(reader, ConversationReader)
    assert reader.files == []  # nothing is opened before iterating
    ids = [c.id for c in reader]
    assert ids == ["a", "c"]
    assert seen == reader.errors
    assert [(Path(e.path).name, e.line, e.reason) for e in reader.errors] == [
        ("missing.txt", None, "no such file"),
        ("b.txt", None, "binary file, not text"),
        ("c.jsonl", 2, reader.errors[2].reason),
        ("d.txt", None, "empty file"),
    ]
    assert [Path(f).name for f in reader.files] == ["a.txt", "b.txt", "c.jsonl", "d.txt"]


def test_read_conversations_streams_and_closes(tmp_path: Path) -> None:
    for i in range(3):
        write(tmp_path, f"{i}.txt", "坐席：您好\n")
    with read_conversations(tmp_path) as reader:
        first = next(reader)
        assert first.id == "0" and len(reader.files) == 1
    with pytest.raises(StopIteration):
        next(reader)


def test_wrong_argument_types_raise() -> None:
    with pytest.raises(TypeError):
        read_conversations(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        read_conversations([Path("a"), 3])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        read_file(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown format"):
        read_file("x", format="doc")


def test_unknown_suffix_is_sniffed(tmp_path: Path) -> None:
    [c] = read(write(tmp_path, "a.log", "坐席：您好\n"))[0]
    assert c.metadata["format"] == "txt"
    msg = jl({"conversation_id": "q", "role": "agent", "text": "x"})
    [c] = read(write(tmp_path, "b.dat", msg))[0]
    assert c.metadata["format"] == "jsonl"
    [c] = read(write(tmp_path, "c.out", json.dumps([conv_obj("r", "x")])))[0]
    assert c.metadata["format"] == "json"


def test_import_has_no_side_effects() -> None:
    import subprocess
    import sys

    code = ("import sys, phrasecheck.readers; "
            "print(sorted(m for m in ('openpyxl', 'charset_normalizer', 'pandas') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
