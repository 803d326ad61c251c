"""Hold detection (src/phrasecheck/holds.py): evidence on both sides of the wait.

Table-driven: each case is a short conversation, the holds expected as
(announcing turn, returning turn, how), and why. Look-alikes that are NOT holds are half the
table: asking the customer for something, looking and answering in one breath, a promise of a
later call, a question back to the customer, the customer carrying the talk on, a chat reply
that is merely slow, the customer stepping away.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phrasecheck import Analyzer
from phrasecheck.holds import announcement, detect_holds, is_backchannel
from phrasecheck.types import Conversation, Turn


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer(model=None, complaint_model=None)


def conv(*turns: tuple[Any, ...], channel: str | None = None) -> Conversation:
    out = []
    for i, t in enumerate(turns):
        role, text, *times = t
        start, end = ([*times, None, None])[:2]
        out.append(Turn(i, role, text, start, end))
    meta = {"channel": channel} if channel else {}
    return Conversation("c", tuple(out), meta)


def holds(analyzer: Analyzer, c: Conversation, **settings: Any) -> list[tuple[int, int, str]]:
    found = analyzer.turn_findings(c)
    return [(h.turn, h.return_turn, h.how)  # type: ignore[misc]
            for h in detect_holds(c.turns, found, settings, c.metadata.get("channel"))]


CASES = [
    # --- holds ---------------------------------------------------------------------------
    ("announced, customer waits, agent comes back with the result",
     conv(("agent", "好的，请您稍等，我帮您查一下这笔交易的状态。"), ("customer", "好。"),
          ("agent", "这笔转账是对方行退回的，三个工作日内原路退回。")),
     [(0, 2, "announced+return")]),
    ("announced, agent comes back with thanks although the customer remarked meanwhile",
     conv(("agent", "请您稍等，我帮您查一下体检结果有没有上传。"),
          ("customer", "应该传了吧，体检的时候说直接传系统。"),
          ("agent", "感谢您的耐心等待，体检结果已经传上来了。")),
     [(0, 2, "announced+return")]),
    ("announced in words the cue list does not have, back after a 40 s silence",
     conv(("agent", "好的周女士，请稍等，我调一下您近两个月的缴费记录。",
           95.0, 98.0),
          ("agent", "查到了，三月份扣了两次。", 161.0, 168.0)),
     [(0, 1, "announced+silence")]),
    ("ASR spacing inside the announcement",
     conv(("agent", "好 你 稍 等 我 问 一下 护士长 今天 的 探视 安排", 20.4, 24.6),
          ("customer", "好", 25.1, 25.4),
          ("agent", "喂 喂 听 得到 吗 护士长 说 下午 三点 可以 探视", 61.0, 72.3)),
     [(0, 2, "announced+silence")]),
    ("an unannounced silence of a minute after the customer answered (timed phone call)",
     conv(("agent", "请您把户号报一下。", 28.0, 33.0),
          ("customer", "是3301 0256 7781。", 36.0, 40.0),
          ("agent", "户号是330102567781，目前是主管道抢修。", 104.0, 110.0), channel="phone"),
     [(0, 2, "silence")]),
    ("two holds in one call",
     conv(("agent", "请稍等，我帮您查一下。"), ("customer", "嗯。"),
          ("agent", "查到了，您的社保是正常缴纳的。我再帮您核实一下医保。"), ("customer", "好的"),
          ("agent", "让您久等了，医保也正常。")),
     [(0, 2, "announced+return"), (2, 4, "announced+return")]),
    # --- look-alikes -----------------------------------------------------------------------
    ("asking the customer for a document is not a hold",
     conv(("agent", "请把社保卡或者身份证给我看一下。"), ("customer", "给。"),
          ("agent", "好的，您的卡已经激活了。")),
     []),
    ("looking and answering in the same turn",
     conv(("agent", "好的，我看一下。起诉状需要写明原告被告的基本信息、诉讼请求和事实理由，"
                    "一式三份。"),
          ("customer", "那证据要复印吗？"), ("agent", "要的，证据复印件也是一式三份。")),
     []),
    ("a promise of a later call is not a hold",
     conv(("agent", "您稍后会收到短信，等一下师傅会给您打电话确认上门时间。"),
          ("customer", "好的谢谢"),
          ("agent", "不客气，还有其他可以帮您的吗？")),
     []),
    ("a question back to the customer is not a hold",
     conv(("agent", "我确认一下，您的手机号是尾号6612吗？"), ("customer", "对"),
          ("agent", "好的，已经给您登记了。")),
     []),
    ("the customer carries the conversation on after the cue",
     conv(("agent", "我帮您查一下"), ("customer", "对了，我还想问一下异地就医怎么备案？"),
          ("agent", "异地就医可以在国家医保服务平台小程序上备案。")),
     []),
    ("a slow chat reply is not a hold",
     conv(("customer", "退款什么时候到？", 0.0, 1.0), ("agent", "亲，您好", 70.0, 71.0),
          ("customer", "我上周退的", 80.0, 81.0),
          ("agent", "亲，退款三到五个工作日到账哦", 150.0, 151.0),
          channel="chat"),
     []),
    ("the customer steps away to fetch something: the silence is theirs",
     conv(("agent", "请您提供一下银行卡号。", 0.0, 3.0),
          ("customer", "等我一下，我去拿卡。", 4.0, 6.0),
          ("agent", "好的。", 90.0, 91.0), channel="phone"),
     []),
    ("a finished action is not an announcement",
     conv(("agent", "我帮您登记好了，工单号是2603180412。"), ("customer", "好"),
          ("agent", "还有其他可以帮您的吗？")),
     []),
    # --- announcements in other shapes ------------------------------------------------
    ("a 把 construction: the agent enters the ticket and comes back",
     conv(("agent", "麻烦您稍等，我把报修单录进去。"), ("customer", "嗯。"),
          ("agent", "谢谢您等我，报修单号是0417，师傅明天上午上门。")),
     [(0, 2, "announced+return")]),
    ("where the agent works, then what: 我在系统里给您补打",
     conv(("agent", "请稍等，我在柜台系统里给您补打一张回单。"), ("customer", "行，你快点。"),
          ("agent", "回单打好了，您收好。")),
     [(0, 2, "announced+return")]),
    ("a look-up with the result in the agent's very next chat message",
     conv(("customer", "我的快递怎么三天没动了"),
          ("agent", "我去后台查一下物流轨迹。"),
          ("agent", "快件在中转站滞留了，今天已经重新发出，明天能到。"), channel="chat"),
     [(1, 2, "announced+return")]),
    ("the agent phones a colleague: 我打个内线问问",
     conv(("agent", "这个我这边看不全，我打个内线问问后台管个税的同事。"),
          ("customer", "嗯，你问吧。"),
          ("agent", "问清楚了，您第三季度预缴的时候多填了一个零。")),
     [(0, 2, "announced+return")]),
    ("the agent goes somewhere to fetch: 我去后面库房拿一张",
     conv(("agent", "白卡刚好用完了，我去后面库房拿一张新卡过来。"), ("customer", "嗯。"),
          ("agent", "久等了，新卡拿来了，我现在给您写卡。")),
     [(0, 2, "announced+return")]),
    ("explains the wait, then asks for it: not an answer in the same turn",
     conv(("agent", "好的亲，我这边直接帮您提交退货申请，售后组审核一般几分钟，您稍等一下哈，"
                    "结果出来我告诉您~"),
          ("agent", "审核通过了亲，退货地址已经发到您的订单页面。"), channel="chat"),
     [(0, 1, "announced+return")]),
    ("the agent hands something over: 我把照片拿到后面",
     conv(("agent", "请您稍等，我把照片拿到后面给审核的同事。"), ("customer", "好吧。"),
          ("agent", "看过了，这张可以用。")),
     [(0, 2, "announced+return")]),
    ("an offer is not an announcement: 我可以帮您办理",
     conv(("agent", "这个业务我可以帮您办理。"), ("customer", "好的。"),
          ("agent", "请出示一下身份证。")),
     []),
    ("sending the customer to another window is a referral, not a hold",
     conv(("agent", "这边去三号窗口找刘老师就行，她那边负责。"), ("customer", "嗯。"),
          ("agent", "出门右转就是。")),
     []),
    ("我去年… is about the past, not going somewhere now",
     conv(("agent", "这个情况我去年问过省厅，外地的社保卡在我们这也能用，直接刷就行。"),
          ("customer", "好的。"), ("agent", "还有其他可以帮您的吗？")),
     []),
    # --- look-alikes -------------------------------------------------------------------
    ("telling the customer what to do: 交回这边登记一下就可以了",
     conv(("agent", "您填完把表交回这边登记一下就可以了。"), ("customer", "好的。"),
          ("agent", "下一位。")),
     []),
    ("a task for later, then the agent's next message without any wait",
     conv(("customer", "页面上写的是包邮，怎么收了运费？"),
          ("agent", "抱歉，我马上反馈给运营改过来，运费我现在退给您。"),
          ("agent", "已经退了，六元，请注意查收。"), channel="chat"),
     []),
    # --- found in conversations written after the rules (2026-12-03, training side) ----
    ("the agent phones someone to look it up for the customer, back after a silence",
     conv(("agent",
           "您别急，您稍等，我打个电话给您那片的社区民警，请他在他们系统里帮您核一下登记信息。",
           50.8, 58.9),
          ("customer", "好，麻烦你了。", 59.4, 61.0),
          ("agent", "让您久等了。民警那边核过了，信息是全的，可以办。", 118.6, 126.0)),
     [(0, 2, "announced+silence")]),
    ("going in to the director; the customer only urges (那你快点), the agent is back",
     conv(("agent", "这么大的事，我进去跟主任请示一下。"), ("customer", "那你快点。"),
          ("agent", "阿姨，我回来了。主任已经给派出所打了电话。")),
     [(0, 2, "announced+return")]),
    ("哎 好 is an acknowledgement",
     conv(("agent", "好的 烧等啊 我这边帮您核实一下这笔退款的进度"), ("customer", "哎 好"),
          ("agent", "核实好了 阿姨 您这个退款昨天下午已经原路退回了")),
     [(0, 2, "announced+return")]),
    ("a call that hands the customer over (我给她打个电话说一声) is no hold",
     conv(("agent", "民政的小杜我认识，我给她打个电话，您直接去二楼找她。"),
          ("customer", "好的谢谢。"),
          ("agent", "不客气，慢走。")),
     []),
    ("a call back to the customer tomorrow is no hold",
     conv(("agent", "我刚把单派了，明天上午我打电话问您有没有改善。"), ("customer", "好。"),
          ("agent", "还有其他可以帮您的吗？")),
     []),
    ("a call already made is no hold",
     conv(("agent", "执行款我打电话问了，今天下午财务审批，明天到账。"), ("customer", "好的。"),
          ("agent", "还有别的事吗？")),
     []),
    # --- context_f, training side (2026-12-03) ----------------------------------------
    ("asking another team (我再找物流组对一下), the agent's next message after 2 minutes",
     conv(("agent", "新疆地区走的是大件物流，我再找物流组对一下乌鲁木齐线路的时效。", 202.5, 210.0),
          ("agent", "亲，物流那边回复了，正常是出厂后8到12天送达。", 320.0, 331.0),
          channel="chat"),
     [(0, 1, "announced+silence")]),
    ("找了半天 / 找您要: no announcement",
     conv(("agent", "我找了半天问一下您，这个单子是不是您的？"), ("customer", "是我的。"),
          ("agent", "我找您要一下身份证号。")),
     []),
    ("an announcement followed, after 好, by the task itself: one hold, at the task",
     conv(("agent", "急诊抢救有没有例外，我得确认一下，您稍等一下。"), ("customer", "好。"),
          ("agent", "我去问一下我们科长，急诊抢救的能不能按已备案的比例算。"),
          ("agent", "大姐，让您久等了。科长说了，可以按已备案的比例报。")),
     [(2, 3, "announced+return")]),
]


@pytest.mark.parametrize(("why", "c", "expected"), CASES, ids=[c[0] for c in CASES])
def test_holds(analyzer: Analyzer, why: str, c: Conversation,
               expected: list[tuple[int, int, str]]) -> None:
    assert holds(analyzer, c, hold_gap_seconds=30) == expected, why


def test_silent_holds_can_be_switched_off(analyzer: Analyzer) -> None:
    c = CASES[4][1]
    assert holds(analyzer, c, hold_gap_seconds=30, silent_hold_seconds=None) == []
    assert holds(analyzer, c, hold_gap_seconds=30, silent_hold_seconds=120) == []


def test_hold_evidence_names_cue_gap_and_return(analyzer: Analyzer) -> None:
    c = CASES[2][1]
    [h] = detect_holds(c.turns, analyzer.turn_findings(c), {"hold_gap_seconds": 30})
    text = h.explain()
    assert "我调一下" in text and "63s silence" in text and "“查到了”" in text
    assert h.to_dict()["how"] == "announced+silence"


@pytest.mark.parametrize(("text", "expected"), [
    ("好的", True), ("嗯嗯", True), ("好 您查", True), ("不着急，您慢慢查", True), ("", True),
    ("好，麻烦快一点。", True), ("你快点", True), ("嗯，你问吧。", True), ("行 您去吧", True),
    ("哎 好", True), ("唉，好吧", True), ("那你快点", True),
    ("那我顺便问一下公积金的事", False), ("我要投诉你们", False), ("哎你们怎么回事", False),
])
def test_backchannel(text: str, expected: bool) -> None:
    assert is_backchannel(text) is expected


def test_wait_and_thanks_rules_judge_each_hold(analyzer: Analyzer) -> None:
    c = conv(("agent", "请稍等，我帮您查一下。"), ("customer", "嗯。"),
             ("agent", "感谢您的耐心等待，查到了，正常缴纳。"), ("customer", "那医保呢？"),
             ("agent", "我再帮您核实一下医保。"), ("customer", "好的"), ("agent", "医保也正常。"))
    score = analyzer.score(c)
    wait, thanks = score.rule("wait_before_hold"), score.rule("thanks_after_hold")
    # the first hold passes both; the second has no 请稍等 (in its turn or the agent's turn
    # before) and no thanks when the agent comes back
    assert wait.outcome == "fail" and wait.deduction == 5
    assert thanks.outcome == "fail" and thanks.deduction == 5
    assert any("turn 4" in e.note for e in wait.evidence)
    trace = str(analyzer.test_rule("thanks_after_hold", c))
    assert "hold: turn 0 announces" in trace and "hold: turn 4 announces" in trace


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["agent", "customer"]),
                          st.text(alphabet="您好请稍等我帮查一下核实到了谢谢嗯 ，。", max_size=20),
                          st.one_of(st.none(), st.floats(0, 1000))), max_size=12))
def test_holds_never_crash_and_point_at_agent_turns(analyzer: Analyzer,
                                                     turns: list[tuple[str, str, Any]]) -> None:
    c = conv(*[(r, t, s, s) for r, t, s in turns])
    for h in detect_holds(c.turns, analyzer.turn_findings(c), {}):
        assert c.turns[h.position].role == "agent"
        assert h.return_position is not None and c.turns[h.return_position].role == "agent"
        assert h.position < h.return_position


def test_pattern_cues_are_remembered_for_short_turns_only() -> None:
    """The announcement patterns' answer for a text is remembered (agent turns repeat), but
    only for turns of up to _REMEMBERED_CHARS characters: a long turn is never kept."""
    from phrasecheck import holds

    holds._remembered_pattern_cues.cache_clear()
    short = "好的 我帮您查一下"
    long = short + "，" + "这个业务需要您本人带身份证原件到窗口办理" * 30
    assert len(long) > holds._REMEMBERED_CHARS
    assert holds._pattern_cues(short) == holds._scan_pattern_cues(short) != ()
    assert holds._pattern_cues(short) == holds._scan_pattern_cues(short)
    assert holds._pattern_cues(long) == holds._scan_pattern_cues(long) != ()
    info = holds._remembered_pattern_cues.cache_info()
    assert (info.currsize, info.hits) == (1, 1)


# --- the hold-announcement model ---------------------------------------------------------
# A stand-in for the learned model: P(announcement) per position, so that these tests pin
# down how detect_holds uses a score, whatever the shipped model says.

UNCUED = "我进预约系统里翻翻后面哪天还有空位，电话别挂啊。"  # no cue, no pattern


def scored(probs: dict[int, float]) -> Any:
    return lambda p: (probs[p], f"clause {p}") if p in probs else (0.0, "")


MODEL_CASES = [
    ("an announcement only the model finds, the agent comes back saying so",
     conv(("agent", UNCUED), ("customer", "好"), ("agent", "让您久等了，礼拜四上午还有号。")),
     {0: 0.9}, 0.5, [(0, 2, "announced+return", 0.9)]),
    ("the customer only acknowledges (好) and the agent speaks next: a hold",
     conv(("agent", UNCUED), ("customer", "好"), ("agent", "喂，还在吗？礼拜四上午还有号。")),
     {0: 0.9}, 0.5, [(0, 2, "announced+return", 0.9)]),
    ("a statement that speaks of no agent, wait or look-up is never asked about",
     conv(("agent", "礼拜四上午还有号。"), ("customer", "好"),
          ("agent", "让您久等了，礼拜五也有。")),
     {0: 0.9}, 0.5, []),
    ("a farewell is no return: the customer was sent elsewhere (demo court_303)",
     conv(("agent", "就在大厅那边，您过去问问。"), ("customer", "……好吧。"),
          ("agent", "再见。")),
     {0: 0.9}, 0.5, []),
    ("nor is a thank-you-and-goodbye; a result with 再见 is",
     conv(("agent", UNCUED), ("customer", "好"), ("agent", "不客气，您慢走。"),
          ("agent", UNCUED), ("customer", "嗯"), ("agent", "查到了，礼拜四上午还有号，再见。")),
     {0: 0.9, 3: 0.9}, 0.5, [(3, 5, "announced+return", 0.9)]),
    ("acknowledgements and urging only (嗯嗯 / 那你快点): still a hold",
     conv(("agent", UNCUED), ("customer", "嗯嗯"), ("customer", "那你快点"),
          ("agent", "礼拜四上午还有号。")),
     {0: 0.9}, 0.5, [(0, 3, "announced+return", 0.9)]),
    ("a backchannel then a question: the customer carries the talk on, no hold",
     conv(("agent", UNCUED), ("customer", "好的"), ("customer", "那下午能不能办？"),
          ("agent", "下午也可以。")),
     {0: 0.9}, 0.5, []),
    ("the customer's 好 and the agent's next turn announces a hold itself: not a return",
     conv(("agent", UNCUED), ("customer", "好"), ("agent", "请稍等，我帮您查一下这个号。"),
          ("customer", "嗯"), ("agent", "让您久等了，查到了。")),
     {0: 0.9}, 0.5, [(2, 4, "announced+return", None)]),
    ("the agent's very next message, nothing from the customer in between (chat)",
     conv(("agent", UNCUED), ("agent", "礼拜四上午还有号。"), channel="chat"),
     {0: 0.9}, 0.5, [(0, 1, "announced+return", 0.9)]),
    ("the model's score below the threshold",
     conv(("agent", UNCUED), ("customer", "好"), ("agent", "喂，还在吗？礼拜四上午还有号。")),
     {0: 0.4}, 0.5, []),
    ("no threshold in the settings: the model is not asked",
     conv(("agent", UNCUED), ("customer", "好"), ("agent", "喂，还在吗？礼拜四上午还有号。")),
     {0: 0.9}, None, []),
    ("the customer carries the talk on: no return, whatever the model says",
     conv(("agent", UNCUED), ("customer", "对了，我想顺便问一下能不能改到下午"),
          ("agent", "下午也可以。")),
     {0: 0.9}, 0.5, []),
    ("a silence confirms it in a timed call although the customer spoke",
     conv(("agent", UNCUED, 0.0, 4.0), ("customer", "那你快点，我还要上班呢", 5.0, 7.0),
          ("agent", "礼拜四上午还有号。", 60.0, 63.0)),
     {0: 0.9}, 0.5, [(0, 2, "announced+silence", 0.9)]),
    ("the agent's next turn announces a hold itself and says nothing of coming back",
     conv(("agent", UNCUED), ("customer", "好"),
          ("agent", "请稍等，我帮您查一下这个号。"), ("customer", "嗯"),
          ("agent", "让您久等了，查到了。")),
     {0: 0.9}, 0.5, [(2, 4, "announced+return", None)]),
    ("a cue or pattern wins over the model: the model is asked only where they find nothing",
     conv(("agent", "请稍等，我帮您查一下。"), ("customer", "好"), ("agent", "查到了。")),
     {0: 0.9}, 0.5, [(0, 2, "announced+return", None)]),
]


@pytest.mark.parametrize(("why", "c", "probs", "threshold", "expected"), MODEL_CASES,
                         ids=[m[0] for m in MODEL_CASES])
def test_holds_with_the_announcement_model(analyzer: Analyzer, why: str, c: Conversation,
                                           probs: dict[int, float], threshold: float | None,
                                           expected: list[tuple[Any, ...]]) -> None:
    settings_ = {"hold_gap_seconds": 30, "hold_model_threshold": threshold}
    got = detect_holds(c.turns, analyzer.turn_findings(c), settings_,
                       announce_score=scored(probs))
    assert [(h.turn, h.return_turn, h.how, h.score) for h in got] == expected, why


def test_model_hold_explains_its_score_and_clause(analyzer: Analyzer) -> None:
    c = MODEL_CASES[0][1]
    [h] = detect_holds(c.turns, analyzer.turn_findings(c), {"hold_model_threshold": 0.5},
                       announce_score=scored({0: 0.87}))
    assert h.cue_code == "model" and h.cue == "clause 0"
    assert "model P=0.87" in h.explain() and "“clause 0”" in h.explain()
    assert h.to_dict()["score"] == 0.87


def test_shipped_hold_model_is_used_by_the_default_policy() -> None:
    """The default policy sets hold_model_threshold and the wheel ships models/hold.json:
    an uncued announcement is judged by the model, the evidence names its probability and
    the clause; without the model (hold_model=None) the same call has no hold."""
    said = "好的，我进系统给您查查这张卡为什么被限制了。"
    c = conv(("agent", "您好，请问办什么业务？"), ("customer", "我的卡取不了钱。"),
             ("agent", said), ("customer", "好"),
             ("agent", "让您久等了，看到了，您的身份证过期了，卡被限制了只收不付。"),
             ("customer", "那我去更新，谢谢。"), ("agent", "好的，再见。"))
    with_model = Analyzer(model=None, complaint_model=None)
    assert announcement(c.turns[2], with_model.turn_findings(c)[2]) is None  # no cue, no pattern
    assert with_model.policy.settings["hold_model_threshold"] is not None
    p, clause = with_model.announce_score(said)
    assert p >= with_model.policy.settings["hold_model_threshold"]
    assert clause and clause in said
    wait = with_model.score(c).rule("wait_before_hold")
    assert wait.outcome == "fail"  # no 请稍等 before the hold (the thanks came back)
    assert any("model P=" in e.note for e in wait.evidence)
    without = Analyzer(model=None, complaint_model=None, hold_model=None)
    assert without.score(c).rule("wait_before_hold").outcome == "na"


def test_hold_model_threshold_is_validated(tmp_path: Any) -> None:
    from phrasecheck.errors import PolicyError
    from phrasecheck.policy import load_policy

    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nextends: default\nsettings: {hold_model_threshold: 1.5}\n",
                   encoding="utf-8")
    with pytest.raises(PolicyError, match="hold_model_threshold"):
        load_policy(bad)
    off = tmp_path / "off.yaml"
    off.write_text("version: 1\nextends: default\nsettings: {hold_model_threshold: null}\n",
                   encoding="utf-8")
    assert load_policy(off).settings["hold_model_threshold"] is None
    assert Analyzer(off, model=None, complaint_model=None)._announce_fn(()) is None


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_squash_drops_exactly_spaces_punctuation_and_symbols(text: str) -> None:
    import unicodedata

    from phrasecheck.holds import _squash

    assert _squash(text) == "".join(ch for ch in text if not (
        ch.isspace() or unicodedata.category(ch)[0] in "PZS"))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["agent", "customer"]),
                          st.sampled_from(["好", "嗯，好的", UNCUED, "请稍等，我帮您查一下。",
                                           "让您久等了，查到了。", "我想顺便问一下别的事",
                                           "喂，还在吗？礼拜四还有号。", "您稍后会收到短信。"]),
                          st.one_of(st.none(), st.floats(0, 300))), max_size=10))
def test_model_candidates_are_the_turns_detect_holds_asks_about(
        analyzer: Analyzer, turns: list[tuple[str, str, Any]]) -> None:
    """score_many scores model_candidates() in one batch beforehand and the analyzer answers
    None for every other turn: so a model that says yes to every turn must give a hold at
    exactly the candidates."""
    from phrasecheck.holds import model_candidates

    c = conv(*[(r, t, s, s) for r, t, s in turns])
    found = analyzer.turn_findings(c)
    settings_ = {"hold_gap_seconds": 30, "hold_model_threshold": 0.5}
    held = detect_holds(c.turns, found, settings_, announce_score=lambda p: (1.0, "yes"))
    assert [h.position for h in held if h.cue_code == "model"] == model_candidates(
        c.turns, found, settings_)


def test_score_many_gives_the_hold_model_verdicts_of_score() -> None:
    a = Analyzer(model=None, complaint_model=None)
    convs = [m[1] for m in MODEL_CASES] * 3
    batch = [s.to_dict() for s in a.score_many(convs, batch=8)]
    assert batch == [a.score(c).to_dict() for c in convs]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="您好吗呢么吧是不对可以行？?！!。， \n a1", max_size=24))
def test_asks_at_end_is_the_asks_pattern(text: str) -> None:
    from phrasecheck.holds import _ASKS, _asks_at_end

    assert _asks_at_end(text) == (_ASKS.search(text) is not None)


def test_live_monitor_uses_the_hold_model() -> None:
    from phrasecheck.monitor import ConversationMonitor

    m = ConversationMonitor(Analyzer(model=None, complaint_model=None))
    for role, text in [("agent", "您好，请问办什么业务？"), ("customer", "我的卡取不了钱。"),
                       ("agent", "好的，我进系统给您查查这张卡为什么被限制了。"),
                       ("customer", "好"), ("agent", "让您久等了，看到了，您的身份证过期了。")]:
        m.add(role, text)
    assert [a.kind for a in m.alerts] == ["no_wait"]
    assert "model P=" in m.alerts[0].message


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="好的嗯谢您你慢查看等着行对 ，。！快点那哎a\u3000", max_size=60))
def test_backchannel_shortcut_keeps_its_definition(text: str) -> None:
    """_backchannel's shortcuts (a turn with more than 12 Chinese characters and no 慢 is
    answered without squashing; a long one without 慢慢 skips the 慢慢 pattern) give the
    verdicts of the plain definition (squash, drop 您慢慢查, then at most 12 acknowledgement
    words)."""
    from phrasecheck.holds import _BACKCHANNEL, _TAKE_YOUR_TIME, _backchannel, _squash

    flat = _TAKE_YOUR_TIME.sub("", _squash(text))
    assert _backchannel(text) == (not flat or (len(flat) <= 12
                                               and _BACKCHANNEL.fullmatch(flat) is not None))
