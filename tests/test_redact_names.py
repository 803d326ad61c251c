"""--redact names,addresses: names and addresses masked with jieba's POS tags, next to the
common words they resemble left alone. Cases written by hand; names and addresses invented."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from phrasecheck.reports.redact import REDACT_KINDS, Redactor, redactor

BOTH = Redactor(("pii", "names", "addresses"))


@pytest.mark.parametrize(("text", "expected"), [
    # a name next to an ordinary word: only the given name goes
    ("我是张伟，工号1234为您服务", "我是张*，工号1234为您服务"),
    ("请王芳明天再来一趟", "请王*明天再来一趟"),
    ("这件事转给陈静处理一下", "这件事转给陈*处理一下"),
    ("客户黄小琴反映周到的服务", "客户黄**反映周到的服务"),
    ("您好，我叫赵子龙", "您好，我叫赵**"),
    ("王小明的快递到了", "王**的快递到了"),
    ("我叫李娜，身份证丢了", "我叫李*，身份证丢了"),
    ("欧阳娜娜女士您好", "欧阳**女士您好"),
    # a surname with a title, or a familiar form, names no one: kept
    ("刘先生您好", "刘先生您好"),
    ("请问是吴女士吗", "请问是吴女士吗"),
    ("小王你去办一下", "小王你去办一下"),
    # words that start with a surname, or that the tagger's dictionary calls names
    ("马上为您办理", "马上为您办理"),
    ("请周到一点", "请周到一点"),
    ("高明的办法也没用", "高明的办法也没用"),
    ("注意文明用语", "注意文明用语"),
    ("高峰期人多，请稍等", "高峰期人多，请稍等"),
    ("石家庄的客户来电", "石家庄的客户来电"),
    ("在马路边上等我", "在马路边上等我"),
    ("白跑一趟真不好意思", "白跑一趟真不好意思"),
    ("方便的话留个电话", "方便的话留个电话"),
])
def test_names(text: str, expected: str) -> None:
    got = Redactor(("pii", "names"))(text)
    assert got == expected
    assert len(got) == len(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("我住在北京市朝阳区幸福路88号3栋2单元502室", "我住在北京市朝阳区***************"),
    ("地址是杭州市西湖区文三路90号", "地址是杭州市西湖区******"),
    ("寄到广州天河区体育西路191号中石化大厦B座", "寄到广州天河区***************"),
    ("送到阳光花园12栋1单元", "送到**********"),
    ("地址是长江路二十号", "地址是******"),
    ("公司在中关村大街27号", "公司在********"),
    # streets as ordinary words, and a floor in the office: not addresses
    ("您沿着这条路走到头", "您沿着这条路走到头"),
    ("这个思路不对", "这个思路不对"),
    ("一路上辛苦了", "一路上辛苦了"),
    ("请到三楼窗口办理", "请到三楼窗口办理"),
    ("您说的那个小区在哪", "您说的那个小区在哪"),
])
def test_addresses(text: str, expected: str) -> None:
    got = Redactor(("pii", "addresses"))(text)
    assert got == expected
    assert len(got) == len(text)


def test_names_numbers_and_addresses_together() -> None:
    text = "我叫李娜，电话13812345678，住幸福路88号"
    assert BOTH(text) == "我叫李*，电话138****5678，住******"
    # the default masks numbers only
    assert Redactor()(text) == "我叫李娜，电话138****5678，住幸福路88号"
    assert BOTH("") == "" and BOTH("hello 123") == "hello 123"


def test_redactor_specs() -> None:
    assert redactor(True) == Redactor(("pii",))
    assert redactor(False) is None and redactor(None) is None and redactor("none") is None
    assert redactor("names,addresses").kinds == ("pii", "names", "addresses")
    assert redactor(["names"]).kinds == ("pii", "names")
    assert redactor("all").kinds == REDACT_KINDS
    with pytest.raises(ValueError, match="available: pii, names, addresses"):
        redactor("nmaes")
    # workers receive it pickled
    again = pickle.loads(pickle.dumps(BOTH))
    assert again == BOTH and again("我是张伟") == "我是张*"


def test_batch_outputs_mask_names_when_asked(tmp_path: Path) -> None:
    from phrasecheck.batch import BatchConfig, run_batch
    from phrasecheck.types import Conversation, Turn

    conv = Conversation("c1", (
        Turn(0, "agent", "您好，我是张伟，请问有什么可以帮您？"),
        Turn(1, "customer", "我叫黄小琴，住幸福路88号，你们这不归我管吗"),
        Turn(2, "agent", "这不归我管，你找别人去"),
    ))
    spec = "names,addresses"
    run_batch([conv], tmp_path, config=BatchConfig(model=None, redact=redactor(spec)),
              redact=redactor(spec), formats=("csv", "html", "xlsx"))
    for name in ("findings.csv", "report.html"):
        text = (tmp_path / name).read_text(encoding="utf-8-sig")
        assert "张伟" not in text and "黄小琴" not in text and "幸福路88号" not in text, name
    assert "张*" in (tmp_path / "report.html").read_text(encoding="utf-8")
