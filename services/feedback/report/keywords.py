"""Recurring keywords in the comments: YAKE over the newest comments of each theme in each
language, cached while those comments do not change."""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

KEYWORD_TEXT_BUDGET = 6000
KEYWORD_NGRAM = 3
KEYWORDS_PER_LANGUAGE = 8
WORD = re.compile(r"\w+", re.UNICODE)


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if text[-1:] in ".!?…" else text + "."


def _digest(language: str, texts: Sequence[str]) -> str:
    body = "\x00".join([language, str(KEYWORD_NGRAM), *texts])
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def extract_keywords(texts: Sequence[str], language: str) -> list[dict[str, Any]]:
    """Keywords recurring in at least two of the texts, with how many texts contain each."""
    if len(texts) < 2:
        return []
    import yake  # imported here: only workers and report builders pay for it

    extractor = yake.KeywordExtractor(lan=language, n=KEYWORD_NGRAM, top=40, dedup_lim=0.8)
    lowered = [text.casefold() for text in texts]
    found: list[dict[str, Any]] = []
    taken: set[str] = set()  # significant words of the keywords kept so far
    for phrase, _score in extractor.extract_keywords("\n".join(map(_sentence, texts))):
        key = " ".join(phrase.casefold().split())
        words = {w for w in WORD.findall(key) if len(w) >= 4}
        # "médiation sociale" makes "médiation" and "financer la médiation" redundant.
        if not words or words & taken:
            continue
        pattern = re.compile(r"(?<!\w)" + re.escape(key) + r"(?!\w)")
        recurring = sum(1 for text in lowered if pattern.search(text))
        if recurring >= 2:
            found.append({"keyword": key, "comments": recurring})
            taken |= words
        if len(found) == KEYWORDS_PER_LANGUAGE:
            break
    return found


def budgeted(texts: Iterable[str], budget: int = KEYWORD_TEXT_BUDGET) -> list[str]:
    """The first texts (newest first) that fit in `budget` characters."""
    kept, used = [], 0
    for text in texts:
        if used + len(text) > budget and kept:
            break
        kept.append(text)
        used += len(text)
    return kept


def theme_keywords(
    theme: str, comments: list[tuple[str, int, str]], cache: dict[str, Any]
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """Keywords per language for one theme, reusing the cache when the input is unchanged."""
    by_language: dict[str, list[str]] = defaultdict(list)
    for text, _rating, language in comments:
        by_language[language].append(text)
    keywords, new_cache = {}, {}
    for language in sorted(by_language):
        texts = budgeted(by_language[language])
        key = f"{theme}\x1f{language}"
        digest = _digest(language, texts)
        cached = cache.get(key)
        if cached and cached.get("digest") == digest:
            found = cached["keywords"]
        else:
            found = extract_keywords(texts, language)
        new_cache[key] = {"digest": digest, "keywords": found}
        if found:
            keywords[language] = found
    return keywords, new_cache
