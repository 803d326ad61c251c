"""Crafted model files: a clear ModelError for each, never a hang, NaN or RecursionError
(issue 14, item 7)."""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from phrasecheck.errors import ModelError


@pytest.fixture(scope="module")
def small_spec() -> dict[str, Any]:
    """The shipped model with 50 terms a block: valid and quick to copy."""
    from phrasecheck.classify import default_model_path

    path = default_model_path()
    if path is None:
        pytest.skip("no bundled model")
    spec = json.loads(path.read_bytes())
    for b in spec["features"]["blocks"]:
        b["terms"] = dict(list(b["terms"].items())[:50])
    return spec


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(spec: dict[str, Any]) -> None:
        node: Any = spec
        keys = path.split(".")
        for k in keys[:-1]:
            node = node[int(k)] if k.isdigit() else node[k]
        node[int(keys[-1]) if keys[-1].isdigit() else keys[-1]] = value
    return change


CASES = {
    "ngram_range 1e9": (_set("features.blocks.0.ngram_range", [1, 1_000_000_000]),
                        "ngram_range must be [lo, hi] with 1 <= lo <= hi <= 8"),
    "ngram_range float": (_set("features.blocks.0.ngram_range", [1, 3.0]), "ngram_range"),
    "ngram_range bool": (_set("features.blocks.0.ngram_range", [True, 2]), "ngram_range"),
    "beta 1e308": (_set("calibration.beta", 1e308), "'beta' above 0 and at most 1000"),
    "beta 0": (_set("calibration.beta", 0), "'beta' above 0"),
    "beta negative": (_set("calibration.beta", -1.5), "'beta' above 0"),
    "weight 1e308": (_set("features.blocks.1.weight", 1e308), "weight must be above 0"),
    "weight 0": (_set("features.blocks.0.weight", 0), "weight must be above 0"),
    "intercept 1e308": (lambda spec: spec.__setitem__(
        "intercept", [1e308] + [0] * (len(spec["classes"]) - 1)), "'intercept' must be"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_crafted_model_is_a_model_error(small_spec: dict[str, Any], case: str) -> None:
    from phrasecheck.classify import ToneModel

    change, words = CASES[case]
    spec = copy.deepcopy(small_spec)
    change(spec)
    started = time.perf_counter()
    with pytest.raises(ModelError, match=words.replace("[", r"\[").replace("]", r"\]")
                       .replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        ToneModel(spec, source="crafted.json")
    assert time.perf_counter() - started < 2


def test_a_huge_coefficient_is_refused(small_spec: dict[str, Any]) -> None:
    from phrasecheck.classify import ToneModel

    spec = copy.deepcopy(small_spec)
    term = next(iter(spec["features"]["blocks"][0]["terms"]))
    spec["features"]["blocks"][0]["terms"][term] = [1.0, 1e308, -1e308, 0.0]
    with pytest.raises(ModelError, match="within ±1e"):
        ToneModel(spec)


def test_probabilities_of_a_valid_model_at_the_bounds_are_finite(small_spec: dict[str, Any]
                                                                 ) -> None:
    from phrasecheck.classify import ToneModel

    spec = copy.deepcopy(small_spec)
    spec["calibration"]["beta"] = 1000.0
    for b in spec["features"]["blocks"]:
        b["weight"] = 1000.0
        b["terms"] = {t: [1e6] + [1e6, -1e6] * len(spec["classes"]) for t in b["terms"]}
        b["terms"] = {t: v[:len(spec["classes"]) + 1] for t, v in b["terms"].items()}
    model = ToneModel(spec)
    texts = ["您好", "你烦不烦", "这个不归我管" * 50,
             next(iter(spec["features"]["blocks"][0]["terms"]))]
    for r in model.predict(texts):
        assert all(math.isfinite(p) for p in r.probabilities.values())


def test_deeply_nested_json_is_a_model_error(tmp_path: Path) -> None:
    from phrasecheck.classify import load_model

    p = tmp_path / "deep.json"
    p.write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
    with pytest.raises(ModelError, match="nested too deeply"):
        load_model(p)
