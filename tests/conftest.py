from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phrasecheck.lexicon import Lexicon, default_lexicon_dir, load_lexicon
from phrasecheck.matching import PhraseMatcher

HERE = Path(__file__).parent
ROOT = HERE.parent


@pytest.fixture(scope="session", autouse=True)
def _own_user_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """phrasecheck's user cache (phrasecheck._cache) in a temporary directory while the tests
    run (subprocesses inherit it), never the cache of the user running them."""
    previous = os.environ.get("PHRASECHECK_CACHE_DIR")
    os.environ["PHRASECHECK_CACHE_DIR"] = str(tmp_path_factory.mktemp("user-cache"))
    yield
    if previous is None:
        os.environ.pop("PHRASECHECK_CACHE_DIR", None)
    else:
        os.environ["PHRASECHECK_CACHE_DIR"] = previous


@pytest.fixture(scope="session")
def test_lexicon() -> Lexicon:
    """The bundled categories and bases plus a small lexicon the tests control."""
    base = default_lexicon_dir()
    return load_lexicon(base / "categories.yaml", base / "bases.yaml",
                        HERE / "data" / "test_lexicon.yaml", defaults=False)


@pytest.fixture(scope="session")
def matcher(test_lexicon: Lexicon) -> PhraseMatcher:
    return PhraseMatcher(test_lexicon)


@pytest.fixture(scope="session")
def analyzer() -> Any:
    from phrasecheck import Analyzer

    return Analyzer(model=None)


@pytest.fixture(scope="session")
def shipped() -> Any:
    """The bundled reply-tone model (skips where the wheel or checkout has none)."""
    from phrasecheck.classify import default_model_path, load_model

    path = default_model_path()
    if path is None:
        pytest.skip("no bundled model (src/phrasecheck/models/tone.json)")
    return load_model(path)
