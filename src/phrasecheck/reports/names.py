"""Personal names and street addresses in Chinese text, for ``--redact names,addresses``.

The tool: jieba's part-of-speech tagger (``jieba.posseg``), which phrasecheck already
depends on. It is maintained, works offline with the data shipped in the wheel, tags person
names (``nr``, ``nrfg``, ``nrt``) and place names (``ns``) with a dictionary and an HMM for
names it has never seen, and runs in this process with no model download; the heavier
taggers (HanLP, LAC, spaCy's Chinese pipelines) fetch models at run time or pull in a deep
learning framework for what a report's masking needs. It has its own ``jieba.Tokenizer``
(never the global ``jieba.dt``) and loads on first use.

The tagger alone over-tags: its dictionary calls 高明, 文明, 高峰, 石家庄 and 马路边 names.
So a token tagged as a name is masked only when

* it is 2 to 4 characters after any title (先生, 女士, 经理 …) and starts with a common
  surname (single or compound: 欧阳, 司马 …);
* it is not a frequent dictionary word (a dictionary "name" with a frequency of 500 or more
  is a common word or a public figure, such as 高明 or 文明);
* its given-name part is not itself a dictionary word of another kind (马路边 = 马 + 路边);
* it does not end like a place (庄, 口, 山, 村 …).

A name keeps its surname and masks the given name one character for one: 张伟 → 张*,
欧阳娜娜 → 欧阳**. A lone surname with a title (王先生) is not masked: it names no one.

An address is a street, road or compound name (…路, …街, …大道, …巷, …小区, …花园, …大厦 …)
with the numbers that follow it (88号3栋2单元502室), extended to the left over the words of
its name (体育西路, 幸福小区); the administrative prefix (…省, …市, …区, …县) stays
readable, the rest is masked: 北京市朝阳区幸福路88号 → 北京市朝阳区******. A street word
alone (这条路, 马路, 思路) is not an address.

Both are heuristics over a statistical tagger: names the tagger does not see (a rare given
name written apart from its surname, 李 明天 …) stay readable, and the tests pin what is
masked on hand-written cases with names next to common words.
"""

from __future__ import annotations

import logging
import re
import tempfile
import threading
from typing import Any

__all__ = ["NameFinder"]

# the surnames of the 百家姓 that are common today, single and compound
_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝"
    "龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞"
    "左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕"
    "屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧"
    "闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝")
_COMPOUND_SURNAMES = frozenset({
    "欧阳", "司马", "诸葛", "上官", "东方", "慕容", "令狐", "皇甫", "尉迟", "公孙", "长孙",
    "宇文", "司徒", "夏侯", "澹台", "端木", "独孤", "南宫", "西门", "轩辕", "呼延", "申屠"})
_TITLES = ("先生", "女士", "小姐", "同志", "经理", "老师", "师傅", "阿姨", "大爷", "主任", "科长",
           "处长", "律师", "医生", "大夫", "警官", "总", "姐", "哥")
_PLACE_ENDINGS = tuple("庄口山村镇市县区省河湖江桥湾港岛路街屯寨沟坡")
_NAME_TAGS = frozenset({"nr", "nrfg", "nrt"})
_COMMON_WORD_FREQ = 500

# addresses
_STREET_ENDINGS = ("大街", "大道", "胡同", "路", "街", "巷", "弄")
_COMPOUND_ENDINGS = ("小区", "花园", "公寓", "大厦", "家园", "新村", "广场", "苑")
_ADMIN_ENDINGS = ("自治区", "特别行政区", "省", "市", "区", "县", "州", "盟", "旗")
_NOT_STREETS = frozenset({
    "马路", "公路", "道路", "铁路", "网路", "线路", "思路", "出路", "套路", "走路", "一路",
    "路", "街", "大街", "大道", "弄", "巷", "这里", "那里", "哪里", "心里", "家里", "里",
    "广场", "小区", "花园", "公寓", "大厦", "苑", "新村", "家园", "退路", "后路", "门路",
    "来路", "销路", "上路", "半路", "绕路", "迷路", "带路", "问路", "近路", "远路", "赶路",
    "电路", "回路", "水路", "陆路", "航路", "老路", "歧路", "活路", "死路", "前路", "在里"})
_DETAIL = re.compile(
    r"(?:[-－—]?[0-9０-９A-Za-zＡ-Ｚ一二三四五六七八九十百零〇两]+"
    r"(?:号楼|号院|号|栋|幢|座|单元|室|层|楼|户|组|期))+")
# words of a street's name: nouns, place and organisation names, adjectives and verbal
# nouns (幸福路, 体育西路, 解放大道, 人民路), never a pronoun, verb or function word
_NAME_PART_TAGS = ("n", "a", "vn", "j", "s", "f", "t", "l", "b", "an", "nz", "ns", "nt",
                   "nr", "ng", "eng")


class NameFinder:
    """Finds the characters to mask in names and addresses (thread-safe, lazy)."""

    def __init__(self, names: bool = True, addresses: bool = True) -> None:
        self.names = names
        self.addresses = addresses
        self._tagger: Any = None
        self._freq: Any = None
        self._tags: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._tagger is None:
            with self._lock:
                if self._tagger is None:
                    import jieba
                    import jieba.posseg

                    logger = logging.getLogger("jieba")
                    previous = logger.level
                    logger.setLevel(logging.WARNING)
                    try:
                        tk = jieba.Tokenizer()
                        tk.tmp_dir = tempfile.gettempdir()
                        tk.initialize()
                        tagger = jieba.posseg.POSTokenizer(tk)
                        tagger.lcut("您好")  # loads the tag table too
                    finally:
                        logger.setLevel(previous)
                    self._freq, self._tags = tk.FREQ, tagger.word_tag_tab
                    self._tagger = tagger
        return self._tagger

    def tokens(self, text: str) -> list[tuple[str, str, int, int]]:
        """``(word, tag, start, end)`` of ``text``."""
        out, pos = [], 0
        for pair in self._load().cut(text, HMM=True):
            word, tag = pair.word, pair.flag
            out.append((word, tag, pos, pos + len(word)))
            pos += len(word)
        return out

    def find(self, text: str) -> list[tuple[int, int, str]]:
        """Sorted, non-overlapping ``(start, end, kind)`` spans of ``text`` to mask
        (``kind`` is ``name`` or ``address``)."""
        if not text or not any("\u4e00" <= ch <= "\u9fff" for ch in text):
            return []
        toks = self.tokens(text)
        spans: list[tuple[int, int, str]] = []
        if self.addresses:
            spans += self._addresses(text, toks)
        if self.names:
            taken = [(a, b) for a, b, _ in spans]
            spans += [s for s in self._names(toks)
                      if not any(s[0] < b and a < s[1] for a, b in taken)]
        return sorted(spans)

    # ---------------------------------------------------------------------- names

    def _names(self, toks: list[tuple[str, str, int, int]]) -> list[tuple[int, int, str]]:
        spans = []
        for i, (word, tag, start, _) in enumerate(toks):
            if word in _COMPOUND_SURNAMES and i + 1 < len(toks):
                # 欧阳 + 娜娜: the tagger splits a compound surname from the given name
                nxt, ntag, nstart, nend = toks[i + 1]
                if ntag in _NAME_TAGS and 1 <= len(nxt) <= 2 and self._given_ok(nxt):
                    spans.append((nstart, nend, "name"))
                continue
            if tag not in _NAME_TAGS:
                continue
            core = word
            for title in _TITLES:
                if core.endswith(title) and len(core) > len(title):
                    core = core[: -len(title)]
                    break
            if not 2 <= len(core) <= 4 or core.endswith(_PLACE_ENDINGS):
                continue
            if core[:2] in _COMPOUND_SURNAMES and len(core) >= 3:
                keep = 2
            elif core[0] in _SURNAMES and not core.startswith(("小", "老")):
                keep = 1
            else:
                continue
            if (self._freq.get(word) or 0) >= _COMMON_WORD_FREQ and \
                    self._tags.get(word) in _NAME_TAGS:
                continue  # 高明, 文明, 高峰: common words the dictionary calls names
            if not self._given_ok(core[keep:]):
                continue
            spans.append((start + keep, start + len(core), "name"))
        return spans

    def _given_ok(self, given: str) -> bool:
        """False when the given-name part is a dictionary word of another kind (路边)."""
        if len(given) < 2:
            return True
        tag = self._tags.get(given)
        return tag is None or tag in _NAME_TAGS or not (self._freq.get(given) or 0)

    # ------------------------------------------------------------------- addresses

    def _addresses(self, text: str, toks: list[tuple[str, str, int, int]]
                   ) -> list[tuple[int, int, str]]:
        spans: list[tuple[int, int, str]] = []
        n = len(toks)
        i = 0
        while i < n:
            word, tag, _, end = toks[i]
            street = self._street(word)
            detail = _DETAIL.match(text, end)
            anchor = street or (tag.startswith("ns") and detail is not None
                                and not word.endswith(_ADMIN_ENDINGS))
            # 幸福 + 路: the street suffix may be a token of its own
            if not anchor and word in ("路", "街", "巷", "弄", "大街", "大道", "小区", "花园",
                                       "大厦", "公寓") and i > 0 and \
                    toks[i - 1][1].startswith(_NAME_PART_TAGS) and \
                    toks[i - 1][0] not in _NOT_STREETS:
                anchor = True
            if not anchor:
                i += 1
                continue
            # left: the words of the street's name, then the administrative prefix (kept)
            j = i
            while j > 0 and toks[j - 1][1].startswith(_NAME_PART_TAGS) and not toks[j - 1][0] \
                    .endswith(_ADMIN_ENDINGS) and len(toks[j - 1][0]) <= 6:
                j -= 1
            first = toks[j][2]
            # right: numbers, buildings, units, rooms and further named compounds
            last = end
            k = i + 1
            while True:
                m = _DETAIL.match(text, last)
                if m is not None and m.end() > last:
                    last = m.end()
                    while k < n and toks[k][2] < last:
                        k += 1
                    continue
                # a named building or compound after the street (中石化大厦, 阳光花园)
                kk, grown = k, last
                while kk < n and toks[kk][2] == grown and toks[kk][1].startswith(
                        _NAME_PART_TAGS) and len(toks[kk][0]) <= 6:
                    grown = toks[kk][3]
                    if toks[kk][0].endswith(_COMPOUND_ENDINGS + _STREET_ENDINGS):
                        break
                    kk += 1
                if kk < n and grown > last and toks[kk][0].endswith(
                        _COMPOUND_ENDINGS + _STREET_ENDINGS):
                    last = grown
                    k = kk + 1
                    continue
                break
            if last == end and not street:
                i += 1
                continue
            if not street and not _DETAIL.match(text, end):
                i += 1
                continue
            if last > first and (last - first) >= 2:
                spans.append((first, last, "address"))
            i = max(k, i + 1)
            while i < n and toks[i][2] < last:
                i += 1
        return spans

    @staticmethod
    def _street(word: str) -> bool:
        """A street, road or compound name (not a bare suffix, not a common word)."""
        if word in _NOT_STREETS:
            return False
        if len(word) >= 3:
            return word.endswith(_STREET_ENDINGS + _COMPOUND_ENDINGS)
        return len(word) == 2 and word.endswith(("路", "街"))
