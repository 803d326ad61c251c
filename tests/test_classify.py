"""The reply-tone classifier: estimator contract, JSON model, safe loading, wiring."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from phrasecheck.classify import (
    EvalReport,
    ToneModel,
    default_model_path,
    evaluate_model,
    load_model,
    load_replies,
    train_model,
)
from phrasecheck.errors import ModelError

CORPUS = Path(__file__).resolve().parent.parent / "corpora" / "replies"
SMALL = {"features": "char+word", "calibration": "temperature", "cv": 3}


@pytest.fixture(scope="module")
def corpus() -> pd.DataFrame:
    return load_replies(CORPUS)


@pytest.fixture(scope="module")
def split(corpus: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    ids_file = CORPUS / "test_ids.txt"
    if ids_file.is_file():
        is_test = corpus["id"].isin(set(ids_file.read_text(encoding="utf-8").split()))
    else:  # before the split exists: any fixed 20%
        is_test = corpus.index % 5 == 0
    return corpus[~is_test].reset_index(drop=True), corpus[is_test].reset_index(drop=True)


@pytest.fixture(scope="module")
def small_train(split: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    """A small stratified subset of the training rows: keeps these tests fast."""
    train = split[0]
    parts = [train[train["label"] == label].sample(n=160, random_state=0)
             for label in sorted(set(train["label"]))]
    return pd.concat(parts).sort_index().reset_index(drop=True)


@pytest.fixture(scope="module")
def fitted(small_train: pd.DataFrame) -> Any:
    from phrasecheck.classify import ToneClassifier

    return ToneClassifier(**SMALL).fit(small_train["text"].tolist(),
                                       small_train["label"].tolist())


@pytest.fixture(scope="module")
def small_model(small_train: pd.DataFrame) -> ToneModel:
    return train_model(small_train, seed=0, cv_metrics=False, **SMALL)


# ------------------------------------------------------------------- estimator contract


def test_import_has_no_side_effects() -> None:
    # predicting needs neither scikit-learn nor pandas: only the estimator and training
    # modules import scikit-learn, when ToneClassifier or train_model is first asked for
    code = ("import sys, phrasecheck.classify as c; "
            "import phrasecheck.classify.model, phrasecheck.classify.evaluation; "
            "from phrasecheck.classify import ToneModel, load_model, evaluate_model; "
            "bad = [m for m in ('jieba', 'sklearn', 'pandas') if m in sys.modules]; "
            "assert not bad, bad; "
            "from phrasecheck.classify import ToneClassifier, train_model; "
            "import phrasecheck.classify.estimator as e, phrasecheck.classify.training as t; "
            "assert ToneClassifier is e.ToneClassifier and train_model is t.train_model; "
            "assert ToneClassifier.__module__ == 'phrasecheck.classify.estimator'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("check", [
    "check_no_attributes_set_in_init",
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
    "check_estimator_cloneable",
    "check_estimator_repr",
    "check_mixin_order",
    "check_do_not_raise_errors_in_init_or_set_params",
])
def test_sklearn_estimator_checks(check: str) -> None:
    from sklearn.utils import estimator_checks

    from phrasecheck.classify import ToneClassifier

    getattr(estimator_checks, check)("ToneClassifier", ToneClassifier())


def test_estimator_contract(small_train: pd.DataFrame) -> None:
    from sklearn.base import clone, is_classifier

    from phrasecheck.classify import ToneClassifier

    est = ToneClassifier(C=3.0, features="char", calibration="none")
    assert is_classifier(est)
    assert est.get_params()["C"] == 3.0
    assert not [k for k in vars(est) if k.endswith("_")]
    assert est.fit(small_train["text"].tolist(), small_train["label"].tolist()) is est
    assert list(est.classes_) == ["evasive", "ok", "rude"]
    assert est.n_features_ > 0
    proba = est.predict_proba(["您好，请问有什么可以帮您？"])
    assert proba.shape == (1, 3) and abs(proba.sum() - 1) < 1e-12
    twin = clone(est)
    assert twin.get_params() == est.get_params() and not hasattr(twin, "classes_")
    assert est.score(small_train["text"].tolist(), small_train["label"].tolist()) > 0.9
    with pytest.raises(TypeError):
        est.predict("一个字符串而不是列表")


def test_unfitted_estimator_raises() -> None:
    from sklearn.exceptions import NotFittedError

    from phrasecheck.classify import ToneClassifier

    with pytest.raises(NotFittedError):
        ToneClassifier().predict_proba(["您好"])


# ------------------------------------------------------------------ pure-Python model


def _at_training_prior(model: ToneModel) -> ToneModel:
    """The exported model's probabilities are for the deployment prior; scikit-learn's
    estimator's are for the training rows' mix."""
    return model.with_prior(model.prior["train"])


def test_json_model_reproduces_sklearn_probabilities(
        fitted: Any, split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    texts = split[1]["text"].tolist()
    exported = fitted.to_model()
    model = _at_training_prior(exported)
    assert list(model.classes) == list(fitted.classes_)
    ours = np.array(model.predict_proba(texts))
    theirs = fitted.predict_proba(texts)
    assert np.abs(ours - theirs).max() < 1e-9
    assert [r.label for r in model.predict(texts)] == list(fitted.predict(texts))
    # at the deployment prior (a few percent rude or evasive) fewer replies are labelled
    # rude or evasive; the arg-max at the training mix stays available
    deployed = exported.predict(texts)
    assert [r.balanced_label for r in deployed] == list(fitted.predict(texts))
    assert sum(r.label != "ok" for r in deployed) < sum(r.label != "ok"
                                                        for r in model.predict(texts))


@pytest.mark.parametrize("params", [
    {"features": "char", "calibration": "sigmoid", "cv": 3},
    {"features": "word", "calibration": "none", "word_ngram_range": (1, 1)},
    {"features": "char+word", "calibration": "temperature", "cv": 3, "unigram_weight": 1.0},
    {"features": "char", "calibration": "none", "char_ngram_range": (2, 3),
     "unigram_weight": 0.25},
])
def test_json_model_matches_other_settings(params: dict[str, Any],
                                           small_train: pd.DataFrame,
                                           split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    from phrasecheck.classify import ToneClassifier

    texts = split[1]["text"].tolist()[:150]
    est = ToneClassifier(**params).fit(small_train["text"].tolist(),
                                       small_train["label"].tolist())
    model = _at_training_prior(est.to_model())
    diff = np.abs(np.array(model.predict_proba(texts)) - est.predict_proba(texts))
    assert diff.max() < 1e-9


@pytest.mark.parametrize("kind, term, expected", [
    ("char", "都", True),
    ("char", "都是", False),
    ("char", "_", True),
    ("word", "觉得", True),
    ("word", "你_觉得", False),
    ("word", "_", True),
    ("word", "__", True),
    ("word", "a_b_c", False),
])
def test_is_unigram(kind: str, term: str, expected: bool) -> None:
    from phrasecheck.classify.features import _is_unigram

    assert _is_unigram(kind, term) is expected


def _unigram_share(model: ToneModel) -> float:
    """Share of the absolute coefficient mass that sits on single characters and words."""
    from phrasecheck.classify.features import _is_unigram

    uni = total = 0.0
    for block in model.to_dict()["features"]["blocks"]:
        for term, (_, *coefs) in block["terms"].items():
            mass = sum(abs(c) for c in coefs)
            total += mass
            if _is_unigram(block["kind"], term):
                uni += mass
    return uni / total


def test_unigram_weight_moves_the_model_onto_phrases(small_train: pd.DataFrame) -> None:
    shares = [_unigram_share(train_model(small_train, cv_metrics=False, calibration="none",
                                         unigram_weight=uw))
              for uw in (1.0, 0.5, 0.25)]
    assert shares[0] > shares[1] > shares[2]
    assert shares[2] < 0.5 * shares[0]


@pytest.mark.parametrize("bad", [0, 0.0, -0.5, 1.5, "0.5", None])
def test_unigram_weight_is_validated(bad: Any, small_train: pd.DataFrame) -> None:
    from phrasecheck.classify import ToneClassifier

    with pytest.raises(ValueError, match="unigram_weight"):
        ToneClassifier(unigram_weight=bad).fit(small_train["text"].tolist()[:30],
                                               small_train["label"].tolist()[:30])


def test_json_round_trip(small_model: ToneModel, tmp_path: Path) -> None:
    path = small_model.save(tmp_path / "m.json")
    again = load_model(path)
    assert again == small_model
    assert again.to_json() == path.read_text(encoding="utf-8")
    texts = ["你听不懂吗？", "好的，已经帮您办好了。"]
    assert again.predict(texts) == small_model.predict(texts)


def test_model_file_records_provenance(small_model: ToneModel,
                                       small_train: pd.DataFrame) -> None:
    import sklearn

    from phrasecheck._version import __version__

    meta = small_model.metadata
    assert meta["format"] == "phrasecheck-tone-model" and meta["format_version"] == 2
    assert set(meta["prior"]["train"]) == set(small_model.classes)
    assert meta["phrasecheck_version"] == __version__
    assert meta["sklearn_version"] == sklearn.__version__
    assert len(meta["training"]["data_sha256"]) == 64
    assert meta["training"]["n_rows"] == len(small_train)
    assert meta["training"]["seed"] == 0
    assert meta["training"]["params"]["calibration"] == "temperature"
    assert "metrics" in meta


def test_training_is_reproducible(small_train: pd.DataFrame, small_model: ToneModel) -> None:
    again = train_model(small_train, seed=0, cv_metrics=False, **SMALL)
    assert again.to_json() == small_model.to_json()


def test_train_from_csv_path_and_evaluate(small_train: pd.DataFrame, tmp_path: Path,
                                          small_model: ToneModel) -> None:
    csv = tmp_path / "data.csv"
    small_train.to_csv(csv, index=False)
    model = train_model(csv, seed=0, cv_metrics=False, **SMALL)
    assert model.to_json() == small_model.to_json()
    report = evaluate_model(model, csv, prior="train")
    assert isinstance(report, EvalReport)
    assert report.macro_f1 > 0.9
    # in use (a few percent rude or evasive expected) fewer training replies are flagged
    deployed = evaluate_model(model, csv)
    assert sum(deployed.confusion[0]) == sum(report.confusion[0])
    text = str(report)
    assert "precision" in text and "macro-F1" in text and "confusion" in text
    assert sum(map(sum, report.confusion)) == len(small_train)


def test_explanations_point_at_the_label(small_model: ToneModel) -> None:
    (r,) = small_model.predict(["说了多少遍了，你自己看不懂吗？"])
    assert r.features, r
    assert all(c > 0 for _, c in r.features)
    assert abs(sum(r.probabilities.values()) - 1) < 1e-12


# --------------------------------------------------------------------- safe loading


def _spec(model: ToneModel) -> dict[str, Any]:
    return json.loads(model.to_json())


@pytest.mark.parametrize("mutate, message", [
    (lambda s: s.update(format_version=99), "format version 99"),
    (lambda s: s.update(format="something-else"), "not a phrasecheck tone model"),
    (lambda s: s.pop("classes"), "'classes'"),
    (lambda s: s["calibration"].update(method="isotonic"), "calibration.method"),
    (lambda s: s["features"]["blocks"][0]["terms"].update({"您": [1.0, 2.0]}), "terms['您']"),
    (lambda s: s.update(intercept=[0.0]), "'intercept'"),
])
def test_incompatible_model_is_a_clear_error(small_model: ToneModel, tmp_path: Path,
                                             mutate: Any, message: str) -> None:
    spec = _spec(small_model)
    mutate(spec)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ModelError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_model(path)


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such model file"):
        load_model(tmp_path / "nope.json")


def test_corrupt_json(small_model: ToneModel, tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_text(small_model.to_json()[:5000], encoding="utf-8")
    with pytest.raises(ModelError, match="corrupt model file: invalid JSON at line"):
        load_model(path)


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_pickle_file_is_refused_not_loaded(tmp_path: Path, protocol: int) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"format": "phrasecheck-tone-model"}, protocol=protocol))
    with pytest.raises(ModelError, match="pickle"):
        load_model(path)


# ------------------------------------------------------------------------ wiring


def test_analyzer_classifies_with_a_model_object(small_model: ToneModel) -> None:
    from phrasecheck.analyzer import Analyzer

    a = Analyzer(model=small_model)
    (r,) = a.classify(["说了多少遍了，你自己看不懂吗？"])
    assert r.label == "rude"


def test_analyzer_loads_a_model_path(small_model: ToneModel, tmp_path: Path) -> None:
    from phrasecheck.analyzer import Analyzer

    path = small_model.save(tmp_path / "tone.json")
    a = Analyzer(model=path)
    assert isinstance(a.model, ToneModel)
    assert a.classify(["您好"])[0].label in small_model.classes


def test_shipped_model_flags_rude_reply_in_check_text(shipped: ToneModel) -> None:
    from phrasecheck.analyzer import Analyzer

    a = Analyzer(model=shipped)
    text = "说了多少遍了，你自己不会看吗？"
    assert a.classify([text])[0].label == "rude"
    tone = [f for f in a.check_text(text) if f.source == "classifier"]
    assert [f.code for f in tone] == ["TONE-RUDE"]
    assert tone[0].start == 0 and tone[0].end == len(text) and "P(rude)" in tone[0].explanation


@pytest.mark.parametrize("text", [
    "不好意思，这个我现在也不知道，我马上帮您问一下物流，十分钟内给您回电话。",
    "您好，具体哪天到账我这边确实不知道，您可以拨打95588查询，工作日九点到五点都有人接。",
])
def test_polite_reply_with_buzhidao_is_not_flagged(shipped: ToneModel, text: str) -> None:
    from phrasecheck.analyzer import Analyzer

    a = Analyzer(model=shipped)
    assert a.classify([text])[0].label == "ok"
    assert not [f for f in a.check_text(text) if f.source == "classifier"]


def test_shipped_model_is_small_and_described(shipped: ToneModel) -> None:
    path = default_model_path()
    assert path is not None
    assert len(path.read_bytes()) < 10 * 1024 * 1024
    meta = shipped.metadata
    assert meta["metrics"]["test"]["macro_f1"] >= 0.85
    assert set(meta["metrics"]["test"]["classes"]) == {"ok", "rude", "deflect", "stonewall"}
    assert 0 < meta["metrics"]["operating_threshold"] < 1


def _corpus_script(name: str) -> Any:
    """Import one of the scripts beside the corpus (``make_split``, ``evaluate``)."""
    import importlib

    sys.path.insert(0, str(CORPUS))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(CORPUS))


def test_make_split_refuses_to_overwrite(tmp_path: Path) -> None:
    make_split = _corpus_script("make_split")
    out = tmp_path / "ids.txt"
    out.write_text("x\n", encoding="utf-8")
    assert make_split.main(["-o", str(out)]) == 1
    assert out.read_text(encoding="utf-8") == "x\n"


def test_load_replies_reports_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "replies_x.csv").write_text(
        "id,text,label,domain,channel,hard\nx-1,好的,ok,gov,face,0\nx-2,滚,rdue,gov,face,0\n",
        encoding="utf-8")
    with pytest.raises(ValueError, match=r"replies_x.csv:3: unknown label 'rdue'"):
        load_replies(tmp_path)
