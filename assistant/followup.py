"""Follow-up questions: decide with cheap rules whether a question leans on the chat history,
and if so, make it self-contained for retrieval.

"Und auf wessen Einladung fand das Gespräch statt?" after "Wer nahm am 13. Juni 2016 teil?"
is answered as "Und auf wessen Einladung fand das Gespräch statt? (Wer nahm am 13. Juni 2016
teil?)", so the meeting passage comes back. An LLM rewrite can
replace `resolve` where a model is configured; the rules stay as the fallback.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.text import analyze, find_dates

_OPENERS = re.compile(r"^\s*(und|aber|also|oder|auch|dann|sonst|außerdem|zudem|and|what about)\b",
                      re.IGNORECASE)
_ANAPHORA = re.compile(
    r"\b(er|sie|es|ihm|ihr|ihn|ihnen|sein\w*|ihr\w*|dort|dabei|damals|davon|dazu|darüber|dafür|"
    r"derselbe\w*|dieselbe\w*|dasselbe|diese[rsmn]?|jene[rsmn]?|das gespräch|die veranstaltung|"
    r"das treffen|der brief|das projekt|the same|there|they|it)\b", re.IGNORECASE)


def needs_history(question: str) -> bool:
    """True for questions that cannot stand alone: a conjunction opener, no content word at all,
    or a pronoun or definite back-reference with at most two content words and no date of its own."""
    content = analyze(question)
    if _OPENERS.match(question) or not content:
        return True  # "Und wo?", "Seit wann?"
    own = re.sub(r"\b(gibt es|es gibt)\b", "", question, flags=re.IGNORECASE)  # expletive "es"
    return bool(_ANAPHORA.search(own)) and len(content) <= 2 and not find_dates(question)


def resolve(question: str, history: Sequence[dict]) -> str:
    """The question to answer: itself, or followed by the last user question it leans on in
    parentheses (the question word stays first, so the asked-for answer type is kept)."""
    previous = [m["content"] for m in history if m.get("role") == "user" and m.get("content")]
    if not previous or not needs_history(question):
        return question
    return f"{question.strip()} ({previous[-1].strip()})"
