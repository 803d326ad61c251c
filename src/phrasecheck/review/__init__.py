"""The QA review loop: reviewers mark findings and failed rules 确认 / 误报 / 待定 in the
reports, and the verdicts flow back into the scores, the statistics and the training data.

=============  =======================================================================
``verdicts``   :class:`Verdict`, the review keys, reading and writing verdict files
``apply``      :func:`apply_verdicts` (one conversation) and :func:`apply_to_run` (a
               scored output folder: merge, recompute, audit, rewrite the outputs)
``stats``      :func:`review_stats`: precision per rule, lexicon entry and tone label,
               the entries dismissed most, suggested allow-list entries
``training``   :func:`training_rows`: reviewed replies as labelled training rows
=============  =======================================================================
"""

from __future__ import annotations

from .verdicts import (
    VERDICT_COLUMNS,
    VERDICT_VALUES,
    Verdict,
    VerdictProblem,
    finding_key,
    read_verdicts,
    rule_key,
    write_verdicts,
)

__all__ = [
    "VERDICT_COLUMNS",
    "VERDICT_VALUES",
    "Verdict",
    "VerdictProblem",
    "finding_key",
    "read_verdicts",
    "rule_key",
    "write_verdicts",
]
