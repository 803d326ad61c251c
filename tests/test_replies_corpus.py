"""Checks on the hand-written reply-tone corpus (corpora/replies) and its frozen test split."""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from phrasecheck.classify import LABELS, load_replies, normalize_reply

CORPUS = Path(__file__).resolve().parent.parent / "corpora" / "replies"
BANNED_LEXICON = CORPUS.parent.parent / "lexicons" / "banned.yaml"
DOMAINS = {"gov", "hotline", "social", "tax", "bank", "telecom", "ecommerce", "hospital",
           "court", "utility"}
CHANNELS = {"face", "phone", "chat"}


@lru_cache(maxsize=1)
def _corpus() -> pd.DataFrame:
    return load_replies(CORPUS)


@pytest.fixture(scope="module")
def corpus() -> pd.DataFrame:
    return _corpus()


def _trigrams(text: str) -> list[str]:
    t = normalize_reply(text)
    return sorted({t[i:i + 3] for i in range(max(1, len(t) - 2))})


def near_duplicates(texts: list[str], threshold: float = 0.8
                    ) -> list[tuple[int, int, float]]:
    """Pairs (i, j, jaccard) of texts whose character-3-gram sets overlap more than
    ``threshold``: one sparse product gives every pair's intersection size."""
    from sklearn.feature_extraction.text import CountVectorizer

    vec = CountVectorizer(analyzer=_trigrams, binary=True, dtype=np.int32)
    X = vec.fit_transform(texts)
    sizes = np.asarray(X.sum(axis=1)).ravel()
    inter = (X @ X.T).tocoo()
    upper = inter.row < inter.col
    r, c, d = inter.row[upper], inter.col[upper], inter.data[upper]
    jac = d / (sizes[r] + sizes[c] - d)
    hit = jac > threshold
    return sorted(zip(r[hit].tolist(), c[hit].tolist(), jac[hit].tolist()))


def test_near_duplicate_detector_itself() -> None:
    texts = ["您好，请出示一下您的身份证和户口本。", "您好，请出示一下您的身份证和户口本！",
             "说了多少遍了，回去等通知。", "这个业务需要本人到场办理，带上身份证就可以。"]
    pairs = near_duplicates(texts)
    assert [(i, j) for i, j, _ in pairs] == [(0, 1)]


def test_columns_labels_domains_channels(corpus: pd.DataFrame) -> None:
    assert set(corpus["label"]) == set(LABELS)
    assert set(corpus["domain"]) <= DOMAINS, set(corpus["domain"]) - DOMAINS
    assert set(corpus["channel"]) <= CHANNELS, set(corpus["channel"]) - CHANNELS
    assert corpus["id"].is_unique
    assert (corpus["text"].str.strip() != "").all()
    assert set(corpus["hard"]) <= {0, 1}


def test_no_near_duplicate_replies(corpus: pd.DataFrame) -> None:
    texts = corpus["text"].tolist()
    pairs = near_duplicates(texts)
    shown = "\n".join(f"  {corpus['id'][i]} ~ {corpus['id'][j]} (Jaccard {s:.2f}): "
                      f"{texts[i]} | {texts[j]}" for i, j, s in pairs[:20])
    assert not pairs, f"{len(pairs)} near-duplicate pair(s) (char 3-gram Jaccard > 0.8):\n{shown}"


def test_at_least_600_per_class(corpus: pd.DataFrame) -> None:
    counts = Counter(corpus["label"])
    assert all(counts[c] >= 600 for c in LABELS), counts


def test_every_domain_present_with_balanced_classes(corpus: pd.DataFrame) -> None:
    assert set(corpus["domain"]) == DOMAINS, DOMAINS - set(corpus["domain"])
    overall = corpus["label"].value_counts(normalize=True)
    table = pd.crosstab(corpus["domain"], corpus["label"], normalize="index")
    for dom, row in table.iterrows():
        for label in LABELS:
            assert abs(row[label] - overall[label]) <= 0.10, (
                f"domain {dom}: {row[label]:.0%} {label} vs {overall[label]:.0%} overall")


def test_a_third_of_ok_are_hard_negatives(corpus: pd.DataFrame) -> None:
    ok = corpus[corpus["label"] == "ok"]
    assert ok["hard"].mean() >= 1 / 3, f"{ok['hard'].mean():.0%} of ok rows are hard"


def test_a_third_of_rude_and_evasive_have_no_banned_phrase(corpus: pd.DataFrame) -> None:
    if not BANNED_LEXICON.is_file():
        pytest.skip("lexicons/banned.yaml is not in this checkout yet: cannot count "
                    "rude/evasive replies without a banned phrase")
    from phrasecheck.analyzer import Analyzer

    analyzer = Analyzer(model=None)
    for label in ("rude", "evasive"):
        texts = corpus.loc[corpus["label"] == label, "text"].tolist()
        clean = sum(1 for t in texts
                    if not any(f.kind == "banned" for f in analyzer.check_text(t)))
        assert clean / len(texts) >= 1 / 3, (
            f"only {clean}/{len(texts)} {label} replies contain no banned phrase")


# ----------------------------------------------------------------------- test split


@pytest.fixture(scope="module")
def test_ids() -> list[str]:
    path = CORPUS / "test_ids.txt"
    if not path.is_file():
        pytest.skip("corpora/replies/test_ids.txt not generated yet")
    return path.read_text(encoding="utf-8").split()


def test_split_ids_exist_and_are_unique(corpus: pd.DataFrame, test_ids: list[str]) -> None:
    assert len(set(test_ids)) == len(test_ids)
    missing = sorted(set(test_ids) - set(corpus["id"]))
    assert not missing, f"test ids not in the corpus: {missing[:10]}"


def test_split_is_about_20_percent_and_stratified(corpus: pd.DataFrame,
                                                   test_ids: list[str]) -> None:
    in_test = corpus["id"].isin(set(test_ids))
    assert 0.18 <= in_test.mean() <= 0.22, f"{in_test.mean():.1%} of rows in the test split"
    # the split was made once, then extended file by file (make_split.py --extend), each
    # file stratified on its own: every file may round each cell by up to one row
    files = corpus["id"].str.split("-").str[0].nunique()
    for (label, dom), group in corpus.groupby(["label", "domain"]):
        n_test = int(in_test[group.index].sum())
        expected = 0.2 * len(group)
        assert abs(n_test - expected) <= 0.5 + 0.5 * files, (
            f"{label}/{dom}: {n_test} of {len(group)} in the test split (expected ~{expected:.0f})")
