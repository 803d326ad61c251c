from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from phrasecheck.lexicon import Lexicon, default_lexicon_dir, load_lexicon
from phrasecheck.matching import PhraseMatcher

HERE = Path(__file__).parent
ROOT = HERE.parent


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
