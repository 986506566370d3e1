"""Answer streams, shared by every stage that streams: a stream is text pieces followed by the
final Answer, whose text is exactly the pieces joined (design.md: the non-streaming answer is the
joined stream). Also cutting a model's token stream into sentences as soon as each is complete,
and holding a resource (the language model's slot) exactly as long as a stream is consumed.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace

from assistant.answer.citations import MARKER
from assistant.answer.verify import sentences_with_markers
from assistant.types import Answer

Part = str | Answer
_MARKERS = re.compile(MARKER.pattern + r"|\s?\[[\d\s,]*$")  # whole, or cut off at the end
_WORD_DONE = re.compile(r"\S\s")


def tokens(text: str) -> list[str]:
    """Whitespace-delimited pieces of `text` that join back to exactly `text`."""
    return re.findall(r"\S+\s*|\s+", text)


def replay(answer: Answer) -> Iterator[Part]:
    """A finished answer as a stream: its text word by word, then the Answer."""
    yield from tokens(answer.text)
    yield answer


def joined(parts: Iterable[Part]) -> Answer:
    """Collect a stream into its final Answer, with the text exactly as streamed."""
    *text, answer = parts
    assert isinstance(answer, Answer), "a stream ends with its Answer"
    return replace(answer, text="".join(str(t) for t in text))


# a sentence's end: its stop (a closing quote or bracket may follow), or its [n] after text
# that does not end in a colon
_ENDED = re.compile(r"(?:[.!?…][\"“”»)\]]*|[^:\s]\s*\[\d+(?:\s*,\s*\d+)*\])\s*$")


class SentenceSplitter:
    """Cuts generated text, fed piece by piece, into sentences with their [n] markers.

    A sentence is complete once a whole word of the next one has followed it (its markers alone
    do not count, and neither does half a word: "Dr." before "Brockmann", "2016." before "Mai"
    are decided by the next word), or when the text ends."""

    def __init__(self) -> None:
        self.buffer = ""

    def feed(self, piece: str) -> list[str]:
        """The sentences that `piece` completed, in order (raw, with their markers)."""
        self.buffer += piece
        done = []
        while len(spans := sentences_with_markers(self.buffer)) > 1:
            a, b = spans[0]
            if not _WORD_DONE.search(_MARKERS.sub("", self.buffer[b:])):
                break
            done.append(self.buffer[a:b])
            self.buffer = self.buffer[b:]
        return done

    def finish(self) -> list[str]:
        """The sentences left when the text has ended, without a last one the token limit cut
        off ("… über die Website https://www.int") or that announces what never came ("5.
        Generieren des Cron-Jobs:"): a finished sentence ends with its stop or its [n]."""
        rest, self.buffer = self.buffer, ""
        out = [rest[a:b] for a, b in sentences_with_markers(rest)]
        if out and not _ENDED.search(out[-1]):
            out.pop()
        return out


class ReleasingStream(Iterator[Part]):
    """A stream that holds a resource until it is exhausted, closed (a client went away) or
    dropped unread: `release(finished)` runs exactly once, `finished` True only at its end.

    `close` may come from another thread while a part is being made (a web server noticing the
    disconnect): the stream then stops right after that part, and only then lets go."""

    def __init__(self, parts: Iterator[Part], release: Callable[[bool], None] | None) -> None:
        self._parts, self._release = parts, release
        self._lock = threading.Lock()
        self._busy = self._closing = False

    def __next__(self) -> Part:
        with self._lock:
            if self._closing:
                raise StopIteration
            self._busy = True
        try:
            part = next(self._parts)
        except StopIteration:
            self._done(True)
            raise
        except BaseException:
            self._stop()
            raise
        finally:
            with self._lock:
                self._busy = False
                closing = self._closing
        if closing:
            self._stop()
        return part

    @property
    def closing(self) -> bool:
        """True once `close` was called (the stream may still finish the part in the making)."""
        return self._closing

    def close(self) -> None:
        """Stop the stream (the generator behind it stops too) and release the resource."""
        with self._lock:
            self._closing = True
            if self._busy:
                return  # __next__ stops it when the part in the making is done
        self._stop()

    def _stop(self) -> None:
        try:
            close = getattr(self._parts, "close", None)
            if close is not None:
                close()
        finally:
            self._done(False)

    def _done(self, finished: bool) -> None:
        with self._lock:
            release, self._release = self._release, None
        if release is not None:
            release(finished)

    def __del__(self) -> None:
        self.close()
