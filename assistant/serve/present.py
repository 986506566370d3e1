"""How results are written for people, once for every edge (command line, web UI, /v1): the
ingest summary, where a citation stands, an answer for a terminal, and the source list that ends
a /v1 answer."""

from __future__ import annotations

from assistant.types import Answer, Citation, IngestReport

SOURCES, CLOSEST = "\n\nQuellen:\n", "\n\nAm nächsten kamen diese Passagen:\n"


def ingest_summary(r: IngestReport) -> str:
    """The German ingest summary."""
    lines = [
        f"Dokumente: {r.documents} · Abschnitte neu: {r.added}, unverändert: {r.unchanged}, "
        f"entfernt: {r.removed} · Zeit: {r.seconds:.1f} s",
    ]
    if r.pages and r.read_seconds:
        lines.append(f"Lesen: {r.pages} Seiten, {r.pages / r.read_seconds:.1f} Seiten/s")
    if r.added and r.embed_seconds:
        lines.append(f"Einbetten: {r.added / r.embed_seconds:.1f} Abschnitte/s")
    lines += [f"Fehler: {e}" for e in r.errors]
    lines += [f"Warnung: {w}" for w in r.warnings]
    if r.missing:
        lines.append("Im Manifest aufgeführt, aber nicht vorhanden (siehe corpus/README.md): "
                     + "; ".join(r.missing))
    return "\n".join(lines)


def where(c: Citation, source: bool = False) -> str:
    """Where a quote stands, for people: "Titel, S. 21 (gedruckt: 15)", "Titel, Folie 3", with
    a note for recognized text or for another version quoted only for comparison, and its
    source (URL or file) where `source`."""
    ocr = ", Texterkennung (OCR)" if c.ocr else ""
    other = " – andere Fassung, zum Vergleich" if c.other_version else ""
    return f"{c.title}{c.place()}{ocr}{other}" + (f" ({c.source})" if source else "")


def short(text: str, limit: int = 300) -> str:
    """One line of at most about `limit` characters, cut at a word, "…" where cut."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + " …"


def format_answer(a: Answer) -> str:
    """The answer for a terminal: text, then numbered sources with their quotes."""
    out = [a.text, ""]
    if a.citations:
        out.append("Quellen:")
        out += [f"[{c.n}] {where(c, source=True)}\n    „{c.quote}“" for c in a.citations]
    if failed := (a.verification or {}).get("generation_error"):
        out.append(f"Hinweis: {failed}")
    if a.closest:
        out.append("Nächstliegende Passagen:")
        out += [f"- {where(c, source=True)}\n    „{short(c.quote)}“" for c in a.closest]
    return "\n".join(out).rstrip()


def source_list(answer: Answer, limit: int = 100) -> str:
    """The sources as Markdown for the end of a /v1 answer, for clients that show only the
    content: "Quellen:" and one line per citation, "- [1] Titel, S. 5 – „Zitat …“" (the quote
    shortened to `limit` characters); a refusal's closest passages without numbers."""
    def line(c: Citation, n: str) -> str:
        return f"- {n}{where(c)} – „{short(c.quote, limit)}“"

    if answer.citations:
        return SOURCES + "\n".join(line(c, f"[{c.n}] ") for c in answer.citations)
    if answer.closest:
        return CLOSEST + "\n".join(line(c, "") for c in answer.closest)
    return ""


def without_sources(content: str) -> str:
    """An earlier /v1 answer sent back as history, without the source list it ended with (a
    follow-up such as „Und der zweite?“ picks from the answer's own list, never from that one)."""
    for mark in (SOURCES, CLOSEST):
        if (at := content.rfind(mark)) >= 0:
            return content[:at]
    return content
