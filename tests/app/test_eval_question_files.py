"""Our own question files (tests/data) load as `mmrag eval` reads them, and their gold
pages exist in the shared corpus."""

from __future__ import annotations

import pytest

from app.eval.runner import load_questions
from ingest.mupdf import pymupdf
from tests.support.paths import CORPUS, TEST_DATA

FILES = ["unanswerable_questions.jsonl", "fresh_questions.jsonl", "fresh_unanswerable.jsonl"]


def test_our_question_files_load_together_with_unique_ids() -> None:
    questions = load_questions([TEST_DATA / name for name in FILES])
    assert len({q.id for q in questions}) == len(questions)
    assert sum(q.answerable for q in questions) == 36
    assert sum(not q.answerable for q in questions) == 32 + 16


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared corpus is not beside the checkout")
def test_every_gold_page_is_a_page_of_its_corpus_file() -> None:
    for q in load_questions(TEST_DATA / "fresh_questions.jsonl"):
        assert q.file is not None and q.pages, q.id
        with pymupdf.open(CORPUS / q.file) as doc:
            assert all(1 <= page <= doc.page_count for page in q.pages), q.id
