"""Garbage score of text layers: real text in many languages passes, encoding noise fails."""

from __future__ import annotations

import random

import pytest

from ingest.pdf_page import GARBAGE_SCORE
from ingest.textquality import is_garbage, text_quality

REAL_TEXTS = {
    "english": "Bitcoin: A Peer-to-Peer Electronic Cash System. A purely peer-to-peer version "
    "of electronic cash would allow online payments to be sent directly.",
    "german": "Antrag auf Mitgliedschaft. Vorname(n), Nachname, Straße, Hausnummer, PLZ, "
    "Stadt. Die Haftpflichtversicherungsgesellschaft übernimmt Schäden.",
    "french": "Résumés et interrogations de logs de requêtes OLAP. L'entrepôt de données "
    "est interrogé à l'aide de requêtes d'agrégation.",
    "russian": "Свидетельство о регистрации транспортного средства. Дата выдачи: "
    "12.03.2015 г. Марка, модель: ВАЗ-2107.",
    "korean": "적립 제외 대상: 무이자할부, 다이어트할부, 삼성카드 할인이 적용된 일시불 및 "
    "할부 이용금액, 기프트/선불카드(포인트, 사이버머니 등).",
    "form": "Form 1040 (2010) Page 2 38 Amount from line 37 (adjusted gross income) . . . . "
    "38 $ 12,345.00 39a Check if: You were born before January 2, 1946",
    "timetable": "Friday 11:00 11:05 11:10 11:15 Main Stage 21:00 - 22:45 (105mins) "
    "Faith No More 19:25 - 20:25",
    "code": 'library("sandwich") fm <- lm(Expenditure ~ Income + I(Income^2), data = ps) '
    'sqrt(diag(vcovHC(fm.ps, type = "HC0"))) \\begin{tabular}[pos]{cols}',
    "camel-case": "ctx.fillRect(x, y, w, h) getElementById iPhone McDonald PDFs strokeStyle",
    "leaders": "Cancer Council Australia\t"
    + "\ufffd" * 50
    + "cancer.org.au\nContents "
    + "." * 80
    + " 12",
}


@pytest.mark.parametrize("name", sorted(REAL_TEXTS))
def test_real_text_is_not_garbage(name: str) -> None:
    quality = text_quality(REAL_TEXTS[name])
    assert quality.score > 0.8, quality
    assert not is_garbage(quality, GARBAGE_SCORE)


def _noise(alphabet: str, n: int = 400, seed: int = 7) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(alphabet) if rng.random() > 0.15 else " " for _ in range(n))


GARBAGE_TEXTS = {
    # What a font without a ToUnicode map yields (tam-review.pdf).
    "control-codes": _noise("".join(chr(c) for c in range(2, 32) if chr(c) not in "\t\n\r")),
    "private-use": _noise("".join(chr(c) for c in range(0xE000, 0xE040))),
    "replacement": _noise("\ufffd\ufffdabc"),
    "latin1-soup": _noise("".join(chr(c) for c in range(0xC0, 0x100))),
    "mixed-scripts": _noise("abcdefghijkABCDEFGабвгдежзийклмнопЖЗИЙ"),
    "symbol-soup": _noise("!@#$%^&*()_+{}|:<>?~`-=[];,./"),
    "letter-spaced": "A l e t t e r f r o m t h e c o m p a n y " * 5,
}


@pytest.mark.parametrize("name", sorted(GARBAGE_TEXTS))
def test_noise_is_garbage(name: str) -> None:
    quality = text_quality(GARBAGE_TEXTS[name])
    assert is_garbage(quality, GARBAGE_SCORE), quality


def test_short_text_is_never_garbage() -> None:
    assert not is_garbage(text_quality("\x02\x03"), GARBAGE_SCORE)
    assert text_quality("").chars == 0
    assert text_quality(" \n\t ").score == 0.0


def test_bad_share_counts_undecodable_characters() -> None:
    quality = text_quality("good words here \x02\x03\x04\x05")
    assert quality.bad_share == pytest.approx(4 / 17)
