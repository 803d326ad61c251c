"""Undiarised (mono-channel) transcripts: split a call into utterances and tell who said what.

Cheap ASR engines return a whole call as one line, or a few, with no speaker labels and no
punctuation, only spaces at pauses (sometimes ASR commas, sometimes nothing at all). This
module turns such text into turns with roles, each with a confidence:

1. **Gaps.** The text is cut at pauses (runs of whitespace), after ASR punctuation
   (``，。？！``) and at line breaks; a stretch longer than :data:`SPLIT_MIN` characters with
   none of these (an engine that glued everything together) is cut at every jieba token
   boundary. Every such gap is a place where the speaker may change.
2. **Roles.** A role model (character n-grams, logistic regression, the same JSON format
   as the reply-tone model) gives P(agent) for each piece and for windows of pieces around
   it. We chose this over a punctuation-restoration or speaker-change network: those are
   hundreds of megabytes and need a download; this scores thousands of pieces a second and
   is trained on our own hand-written calls and conversations.
3. **Sequence.** A linear-chain CRF over the pieces (labels: agent or customer, beginning,
   inside, end or all of a stretch of speech: BIES) reads each piece's edges, the kind of
   gap around it, how densely the engine cut the call into pieces, whether the piece before
   asks something, and the role model's binned log-odds; Viterbi (or each piece's likeliest
   role) gives the roles, forward-backward the confidence of each piece. The end label lets
   what a piece says tell that its speaker stops after it, and transitions that would change
   speakers without ending a stretch are ruled out. A tagger trained by likelihood misses
   speaker changes more often than it invents them, so a decoding bias (``change_bias``,
   chosen by cross-validation on the training calls) is added to every stretch start.
4. **Turns.** Consecutive segments of the same role become one turn. A turn's text is the
   original text from its first character to its last (pauses and line breaks inside it
   kept), so every non-space character of the input lands in exactly one turn, in order; its
   confidence is the lowest posterior of its segments.

Nothing is loaded at import; the shipped model (``models/diarize.json``) loads on first use.
"""

from __future__ import annotations

import json
import math
import re
import threading
import unicodedata
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

__all__ = ["DiarizeModel", "MonoTurn", "Piece", "default_diarize_model", "diarize",
           "load_diarize_model", "split_pieces", "units"]

#: A piece with more characters than this and no pause is cut at every jieba token boundary,
#: and the tagger decides where the speaker changes.
SPLIT_MIN = 12
_PUNCT = frozenset("，。？！；,.?!;…")
_FORMAT = "phrasecheck-diarize-model"
_FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Piece:
    """A stretch of one chunk (line or record): ``chunks[chunk][start:end]``.

    ``before`` is the kind of gap in front of it: ``start`` (the first piece), ``line`` (a new
    chunk), ``punct`` (the piece before ended with punctuation), ``space`` (a pause) or
    ``glued`` (no mark at all: a jieba token boundary inside unbroken text).
    """

    chunk: int
    start: int
    end: int
    before: str


@dataclass(frozen=True, slots=True)
class MonoTurn:
    """One inferred turn: its role, the (chunk, offset) span it covers, its text and the
    confidence of its role (the posterior probability of its segments' role)."""

    role: str
    text: str
    chunk: int
    start: int
    end_chunk: int
    end: int
    confidence: float
    pieces: int


def _is_space(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch) == "Zs"


def split_pieces(chunks: Sequence[str]) -> list[Piece]:
    """Cut each chunk at whitespace runs and after punctuation.

    Punctuation stays with the piece it ends; a piece of punctuation alone is glued to the
    piece before it.
    """
    out: list[Piece] = []
    for c, text in enumerate(chunks):
        pending = "start" if not out else "line"
        lead: int | None = None  # punctuation opening the chunk: it joins the next piece
        i, n = 0, len(text)
        while i < n:
            if _is_space(text[i]):
                i += 1
                continue
            j = i
            while j < n and not _is_space(text[j]):
                j += 1
                if text[j - 1] in _PUNCT:
                    while j < n and text[j] in _PUNCT:
                        j += 1
                    break
            if all(ch in _PUNCT for ch in text[i:j]):
                if out and out[-1].chunk == c:
                    prev = out[-1]  # punctuation alone: it ends the piece before
                    out[-1] = Piece(c, prev.start, j, prev.before)
                elif lead is None:
                    lead = i
                i = j
                continue
            out.append(Piece(c, i if lead is None else lead, j, pending))
            lead = None
            pending = "punct" if text[j - 1] in _PUNCT else "space"
            i = j
        if lead is not None:  # a chunk of punctuation only
            out.append(Piece(c, lead, len(text.rstrip()), pending))
    return out


def units(chunks: Sequence[str], tokenize: Any) -> list[Piece]:
    """The pieces, with every piece longer than :data:`SPLIT_MIN` cut at its jieba token
    boundaries (``glued`` gaps): the places where the speaker may change."""
    out: list[Piece] = []
    for p in split_pieces(chunks):
        if p.end - p.start <= SPLIT_MIN:
            out.append(p)
            continue
        pos = p.start
        for i, tok in enumerate(tokenize(chunks[p.chunk][p.start:p.end])):
            if tok:
                out.append(Piece(p.chunk, pos, pos + len(tok), p.before if i == 0 else "glued"))
                pos += len(tok)
    return out


_PLAIN: dict[int, None] | None = None
_SURROGATE = re.compile("[\ud800-\udfff]")


def plain(text: str) -> str:
    """What the role model reads: the text without spaces and punctuation, as ASR gives it."""
    global _PLAIN
    if _PLAIN is None:  # one deletion table for every space and punctuation code point
        _PLAIN = {c: None for c in range(0x30000) if chr(c).isspace()
                  or unicodedata.category(chr(c))[0] in "PZ"}
    return text.translate(_PLAIN)


def _slice(chunks: Sequence[str], first: Piece, last: Piece) -> str:
    if first.chunk == last.chunk:
        return chunks[first.chunk][first.start:last.end]
    parts = [chunks[first.chunk][first.start:]]
    parts += [chunks[c] for c in range(first.chunk + 1, last.chunk)]
    parts.append(chunks[last.chunk][:last.end])
    return "\n".join(p.strip() for p in parts)


_BINS = (-6.0, -4.0, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 4.0, 6.0)
#: Bins of mean characters per pause-cut piece: the spaced training calls run from about one
#: (a space between every word) to eight (a pause at every clause); comma'd calls 5 to 9.
_DENSITY = (2.5, 3.5, 5.0, 8.0)
_QUESTION = ("吗", "呢", "么", "吧", "哪", "几", "啥", "谁", "?", "？")
_QUESTION_WORDS = ("什么", "怎么", "多少", "是不是", "有没有", "能不能", "可不可以", "对不对",
                   "行不行", "哪里", "哪个", "几点")
#: Pieces tagged at a time (with MARGIN pieces of context either side): memory stays bounded.
BLOCK = 4000
MARGIN = 40
#: Windows of pieces (before, after) whose role-model log-odds are features of a piece.
WINDOWS = {"r0": (0, 0), "r1": (1, 1), "r2": (2, 2), "before": (3, -1), "rr3": (0, 3)}
#: Stretch labels of the tagger: role, and whether the piece begins the role's stretch.
LABELS = ("agent-B", "agent-I", "customer-B", "customer-I")
#: The same with the end of a stretch marked: ``E`` ends a stretch, ``S`` is a stretch of
#: one piece, so that what a piece says can tell that the speaker stops after it (我写在日历上了,
#: 对吧) and short acknowledgements (嗯 / 对) get weights of their own.
LABELS_BIES = ("agent-B", "agent-I", "agent-E", "agent-S",
               "customer-B", "customer-I", "customer-E", "customer-S")
_LABEL_SETS = (LABELS, LABELS_BIES)


def _allowed(a: str, b: str) -> bool:
    """Whether label ``b`` may follow label ``a`` under BIES: a stretch goes on until it ends
    with E (or is a single S), and the next stretch is the other speaker's (a stretch is all
    of one speaker's speech until the other speaks, so a same-role restart would only
    collect the change bias without a change)."""
    ra, xa = a.split("-")
    rb, xb = b.split("-")
    if xa in "BI":
        return rb == ra and xb in "IE"
    return rb != ra and xb in "BS"


def _bin(x: float) -> int:
    return bisect_left(_BINS, x)  # how many bin edges lie below x


def _asks(t: str) -> bool:
    return t.endswith(_QUESTION) or any(w in t[-6:] for w in _QUESTION_WORDS)


def _density(texts: Sequence[str], kinds: Sequence[str]) -> int:
    """How densely the engine cut the text: mean characters per pause-cut piece (the jieba
    cuts of glued text are one piece with the cut before them), binned by :data:`_DENSITY`."""
    cuts = sum(1 for k in kinds if k != "glued")
    mean = sum(len(t) for t in texts) / cuts if cuts else 0.0
    return bisect_left(_DENSITY, mean)


def piece_features(texts: Sequence[str], kinds: Sequence[str], tokens: Sequence[Sequence[str]],
                   role_odds: Mapping[str, Sequence[float]]) -> list[list[str]]:
    """The tagger's features of every piece: its first and last characters and words, its
    neighbours' edges, the kinds of gap around it, how densely the engine cut the call (mean
    characters per pause-cut piece: one engine pauses at clauses, another puts a space
    between every word, and a lone piece's sound means less in the latter), whether the
    piece before asks something,
    and the role model's log-odds for the piece, its neighbours and windows around it
    (binned, some crossed with the gap kind or the question before)."""
    n = len(texts)
    out = []
    dens = _density(texts, kinds)
    for i, t in enumerate(texts):
        f = ["bias", f"b1={t[:1]}", f"b2={t[:2]}", f"e1={t[-1:]}", f"e2={t[-2:]}",
             f"len={min(len(t), 12) // 3}", f"k={kinds[i]}",
             f"kn={kinds[i + 1] if i + 1 < n else 'end'}", f"d={dens}", f"d|k={dens}|{kinds[i]}"]
        f += [f"w={w}" for w in tokens[i][:8]]
        if i > 0:
            p = texts[i - 1]
            f += [f"pe1={p[-1:]}", f"pe2={p[-2:]}", f"pq={_asks(p)}",
                  f"pe2|b2={p[-2:]}|{t[:2]}"]
        else:
            f.append("first")
        if i + 1 < n:
            f += [f"nb1={texts[i + 1][:1]}", f"nb2={texts[i + 1][:2]}"]
        else:
            f.append("last")
        f.append(f"q={_asks(t)}")
        for name, odds in role_odds.items():
            f.append(f"{name}={_bin(odds[i])}")
        if "r0" in role_odds:
            r0 = role_odds["r0"]
            # the neighbours' own sound, and how far a piece's sound counts after each kind
            # of gap (a pause vs a jieba boundary in glued text)
            f.append(f"pr0={_bin(r0[i - 1]) if i > 0 else 'x'}")
            f.append(f"nr0={_bin(r0[i + 1]) if i + 1 < n else 'x'}")
            f.append(f"k|r0={kinds[i]}|{_bin(r0[i])}")
            f.append(f"d|r0={dens}|{_bin(r0[i])}")
        if "r1" in role_odds and i > 0:  # an answer to a question sounds like its speaker
            f.append(f"pq|r1={_asks(texts[i - 1])}|{_bin(role_odds['r1'][i])}")
            f.append(f"d|r1={dens}|{_bin(role_odds['r1'][i])}")
        if "before" in role_odds and "rr3" in role_odds and i > 0:
            left, right = role_odds["before"][i], role_odds["rr3"][i]
            # the speech before the gap sounds like one side and the speech after like the other
            f.append(f"lr={_bin(left)}|{_bin(right)}")
            f.append(f"flip={left * right < -1.0}")
        out.append(f)
    return out


def role_odds(roles: Any, prior_agent: float, chunks: Sequence[str], pieces: Sequence[Piece]
              ) -> dict[str, list[float]]:
    """The role model's log-odds (agent vs customer, corrected for its training mix) for each
    piece alone (``r0``) and for the windows around it (``r1``: one piece either side,
    ``rl``: two before, ``rr``: two after)."""
    n = len(pieces)
    texts: dict[str, list[str]] = {
        name: [plain(_slice(chunks, pieces[max(0, i - lo)], pieces[min(n - 1, i + hi)]))
               if i + hi >= 0 else "" for i in range(n)] for name, (lo, hi) in WINDOWS.items()}
    unique = list(dict.fromkeys(t for ts in texts.values() for t in ts))
    agent = list(roles.classes).index("agent")
    odds = {}
    for t, row in zip(unique, roles.predict_proba(unique), strict=True):
        q = min(max(row[agent], 1e-4), 1 - 1e-4)
        odds[t] = math.log(q / prior_agent) - math.log((1 - q) / (1 - prior_agent))
    return {name: [odds[t] for t in ts] for name, ts in texts.items()}


def prior_of(role_spec: Mapping[str, Any]) -> float:
    """The share of agent rows the role model was trained on."""
    counts = role_spec.get("training", {}).get("label_counts", {})
    total = sum(counts.values()) or 1
    return float(counts.get("agent", total / 2)) / total


class DiarizeModel:
    """The shipped (or a trained) diarisation model: a role model (P(agent) of a stretch of
    speech) and a linear-chain CRF over pieces whose weights are plain JSON. Immutable;
    safe to share between threads."""

    def __init__(self, spec: Mapping[str, Any], *, source: str = "<dict>") -> None:
        from .classify import ToneModel  # the same JSON linear-model format
        from .errors import ModelError

        if not isinstance(spec, Mapping) or spec.get("format") != _FORMAT:
            raise ModelError(f"{source}: not a phrasecheck diarisation model")
        if spec.get("format_version") != _FORMAT_VERSION:
            raise ModelError(f"{source}: diarisation model format version "
                             f"{spec.get('format_version')!r} is not supported "
                             f"(supported: {_FORMAT_VERSION})")
        self.spec = dict(spec)
        self.roles = ToneModel(spec["roles"], source=f"{source}#roles")
        if set(self.roles.classes) != {"agent", "customer"}:
            raise ModelError(f"{source}: the role model must have classes agent and customer")
        self.prior_agent = prior_of(spec["roles"])
        crf = spec["tagger"]
        labels = tuple(crf.get("labels", ()))
        if labels not in _LABEL_SETS:
            raise ModelError(f"{source}: tagger labels must be one of "
                             f"{[list(x) for x in _LABEL_SETS]}, not {list(labels)}")
        self.labels = labels
        size = len(labels)
        #: which labels are the agent's, and which begin a stretch (the change bias's)
        self._is_agent = tuple(lab.startswith("agent-") for lab in labels)
        self._starts = tuple(i for i, lab in enumerate(labels) if lab[-1] in "BS")
        state = {k: tuple(float(x) for x in v) for k, v in crf["state"].items()}
        trans = tuple(tuple(float(x) for x in row) for row in crf["transitions"])
        #: added to the score of every stretch start (B, and S for a stretch of one piece;
        #: agent-B and customer-B in a four-label model): the tagger trained
        #: by likelihood misses speaker changes more often than it invents them, and this
        #: decoding bias, chosen by cross-validation on the training calls, evens that out
        self.change_bias = float(crf.get("change_bias", 0.0))
        #: ``viterbi`` (the likeliest sequence of labels) or ``posterior`` (each piece's
        #: likeliest role by its forward-backward marginals: fewer pieces wrong on average),
        #: chosen by cross-validation on the training calls
        self.decode = str(crf.get("decode", "viterbi"))
        if self.decode not in ("viterbi", "posterior"):
            raise ModelError(f"{source}: tagger decode must be viterbi or posterior, "
                             f"not {self.decode!r}")
        if len(trans) != size or any(len(r) != size for r in trans) or any(
                len(v) != size or not all(math.isfinite(x) for x in v)
                for v in state.values()) or not math.isfinite(self.change_bias):
            raise ModelError(f"{source}: malformed tagger weights")
        import numpy as np

        #: each attribute's row in a weight matrix whose last row is zeros, so that every
        #: piece's emission scores are one gather and one sum over the rows of its attributes
        self._row = {k: i for i, k in enumerate(state)}
        self._weights = np.zeros((len(state) + 1, size))
        for a, i in self._row.items():
            self._weights[i] = state[a]
        #: BIES: impossible transitions (a change that skips the end of a stretch) and first
        #: and last labels are ruled out (-inf); a BI tagger allows every transition
        strict = labels == LABELS_BIES
        self._trans = np.asarray(trans) + np.array(
            [[0.0 if not strict or _allowed(a, b) else -math.inf for b in labels]
             for a in labels])
        self._first = np.array([0.0 if not strict or lab[-1] in "BS" else -math.inf
                                for lab in labels])
        self._last = np.array([0.0 if not strict or lab[-1] in "ES" else -math.inf
                               for lab in labels])

    def is_agent(self, label: int) -> bool:
        """Whether label ``label`` (an index into :attr:`labels`) is one of the agent's."""
        return self._is_agent[label]

    def p_agent(self, marginals: Sequence[float]) -> float:
        """P(agent) of a piece from its label marginals."""
        return float(sum(m for m, a in zip(marginals, self._is_agent, strict=True) if a))

    def role_odds(self, chunks: Sequence[str], pieces: Sequence[Piece]) -> dict[str, list[float]]:
        return role_odds(self.roles, self.prior_agent, chunks, pieces)

    def features(self, chunks: Sequence[str], pieces: Sequence[Piece], tokenize: Any
                 ) -> list[list[str]]:
        texts = ["".join(ch for ch in _slice(chunks, p, p) if not _is_space(ch)) for p in pieces]
        tokens = [[w for w in tokenize(t) if w.strip()] for t in texts]
        return piece_features(texts, [p.before for p in pieces], tokens,
                              self.role_odds(chunks, pieces))

    def tag(self, feats: Sequence[Sequence[str]]) -> tuple[list[int], list[list[float]]]:
        """Labels (indexes into :attr:`labels`; Viterbi or posterior, see :attr:`decode`) and
        the forward-backward marginals."""
        import numpy as np

        n = len(feats)
        size = len(self.labels)
        weights = self._weights
        row = self._row
        zero = len(row)  # every piece gathers the zero row, so none is empty
        rows: list[int] = []
        starts: list[int] = []
        for f in feats:
            starts.append(len(rows))
            rows.append(zero)
            rows.extend([j for a in f if (j := row.get(a)) is not None])
        emit = np.add.reduceat(weights[rows], starts, axis=0)
        if self.change_bias:
            emit[:, list(self._starts)] += self.change_bias
        emit[0] += self._first
        emit[-1] += self._last
        tr = self._trans
        score = emit[0].copy()
        back = np.zeros((n, size), dtype=np.int64)
        for i in range(1, n):
            cand = score[:, None] + tr  # [from, to]
            back[i] = cand.argmax(axis=0)
            score = cand.max(axis=0) + emit[i]
        y = int(score.argmax())
        path = [y]
        for i in range(n - 1, 0, -1):
            y = int(back[i, y])
            path.append(y)
        path.reverse()
        with np.errstate(divide="ignore", invalid="ignore"):  # exp(-inf) is a ruled-out label
            fwd = np.empty((n, size))
            fwd[0] = emit[0]
            for i in range(1, n):
                c = fwd[i - 1][:, None] + tr
                m = c.max(axis=0)
                fwd[i] = emit[i] + m + np.log(np.exp(c - m).sum(axis=0))
            bwd = np.zeros((n, size))
            for i in range(n - 2, -1, -1):
                c = tr + (emit[i + 1] + bwd[i + 1])[None, :]
                m = c.max(axis=1)
                bwd[i] = m + np.log(np.exp(c - m[:, None]).sum(axis=1))
            z = fwd[-1].max() + math.log(float(np.exp(fwd[-1] - fwd[-1].max()).sum()))
            marg = np.exp(fwd + bwd - z)
        if self.decode == "posterior":  # each piece's likeliest role, then its likeliest label
            agent_cols = np.asarray(self._is_agent)
            p_agent = marg[:, agent_cols].sum(axis=1)
            agent = p_agent >= 1.0 - p_agent
            best_a = np.where(agent_cols, marg, -1.0).argmax(axis=1)
            best_c = np.where(~agent_cols, marg, -1.0).argmax(axis=1)
            path = np.where(agent, best_a, best_c).tolist()
        return path, marg.tolist()


def diarize(chunks: Sequence[str], model: DiarizeModel | None = None,
            tokenize: Any = None) -> list[MonoTurn]:
    """Turns, with roles and confidences, of an undiarised transcript given as ``chunks``
    (its lines or records, in order)."""
    model = model or default_diarize_model()
    if tokenize is None:
        tokenize = _default_tokenize()
    original = chunks
    # lone surrogates (half an emoji) cannot reach the Rust tokenizer: judge a copy with
    # U+FFFD in their place, one character for one, and cut the turns out of the original
    chunks = [_SURROGATE.sub("\ufffd", c) for c in chunks]
    pieces = units(chunks, tokenize)
    if not pieces:
        return []
    # in blocks, so that a very long call is tagged in bounded memory: features only look a
    # few pieces either side, and each block is tagged with a margin of context around it
    roles: list[str] = []
    p_role: list[float] = []
    for lo in range(0, len(pieces), BLOCK):
        a, b = max(0, lo - MARGIN), min(len(pieces), lo + BLOCK + MARGIN)
        part = pieces[a:b]
        path, marg = model.tag(model.features(chunks, part, tokenize))
        for y, m in list(zip(path, marg))[lo - a:lo - a + BLOCK]:
            pa = model.p_agent(m)
            roles.append("agent" if model.is_agent(y) else "customer")
            p_role.append(pa if model.is_agent(y) else 1.0 - pa)
    turns: list[MonoTurn] = []
    i = 0
    while i < len(pieces):
        j = i
        while j + 1 < len(pieces) and roles[j + 1] == roles[i]:
            j += 1
        turns.append(MonoTurn(roles[i], _slice(original, pieces[i], pieces[j]), pieces[i].chunk,
                              pieces[i].start, pieces[j].chunk, pieces[j].end,
                              round(min(p_role[i:j + 1]), 4), j + 1 - i))
        i = j + 1
    return turns


# ------------------------------------------------------------------------ loading

_lock = threading.Lock()
_default: DiarizeModel | None = None
_tokenize: Any = None


def _default_tokenize() -> Any:
    global _tokenize
    if _tokenize is None:
        import rjieba  # the word tokenizer the tone model's features use: same tokens as jieba

        _tokenize = rjieba.cut
    return _tokenize


def load_diarize_model(path: str | Path | Traversable) -> DiarizeModel:
    from .errors import ModelError

    res: Any = path if isinstance(path, Traversable) and not isinstance(path, Path) else Path(
        str(path))
    try:
        spec = json.loads(res.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"{path}: cannot load diarisation model: {e}") from e
    return DiarizeModel(spec, source=str(path))


def default_diarize_model() -> DiarizeModel:
    """The shipped diarisation model, loaded once (thread-safe)."""
    global _default
    if _default is None:
        with _lock:
            if _default is None:
                from importlib.resources import files

                from .errors import ModelError

                path = files("phrasecheck") / "models" / "diarize.json"
                if not path.is_file():
                    raise ModelError("this installation ships no diarisation model "
                                     "(phrasecheck/models/diarize.json): undiarised "
                                     "transcripts cannot be read")
                _default = load_diarize_model(path)
    return _default
