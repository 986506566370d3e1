"""The Gradio chat UI, in German: streamed answers with numbered references, a sources panel
(quote, highlighted sentence, title, page, link, and for a PDF the page with the quote marked on
it), uploads with progress, the index status and 👍/👎 feedback. Title, subtitle and example
questions come from the settings (ui_title, ui_subtitle, ui_examples). An adapter over the same
Service, and so the same in-process Pipeline, as the API.

Everything taken from documents is HTML-escaped before it reaches the page.
"""

from __future__ import annotations

import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported: no telemetry

import html  # noqa: E402
import logging  # noqa: E402
from contextlib import closing  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import quote as urlquote  # noqa: E402

import gradio as gr  # noqa: E402
from fastapi import FastAPI  # noqa: E402

from assistant.serve import highlight  # noqa: E402
from assistant.serve.present import ingest_summary, where  # noqa: E402
from assistant.serve.service import MODE_LABELS, RequestError, Service  # noqa: E402
from assistant.types import Answer, Chunk, Citation  # noqa: E402
from ui.evaluation import build_evaluation_tab  # noqa: E402

NO_SOURCES = "<p class='leer'>Nach einer Frage stehen hier die Belegstellen.</p>"
CSS = """
#quellen .quelle {border-left: 3px solid var(--color-accent); padding: .2em .8em; margin-bottom: 1em}
#quellen .kopf {font-weight: 600; margin-bottom: .3em}
#quellen blockquote {margin: 0; color: var(--body-text-color-subdued); white-space: pre-wrap}
#quellen mark {background: #fff1a8; color: #111; padding: 0 .1em}
#quellen .seite {display: block; margin-top: .5em; text-decoration: none}
#quellen .seite img {display: block; width: 100%; height: 22em; object-fit: cover;
                     border: 1px solid var(--border-color-primary)}
#quellen .seite span {font-size: .85em; color: var(--body-text-color-subdued)}
"""
CLOSEST_NOTE = "Die nächstliegenden Passagen stehen rechts unter „Quellen“."


def esc(text: str) -> str:
    """Document text made inert: tags show as text and never run (the chat renders no Markdown)."""
    return html.escape(text, quote=False)


def lines(text: str) -> str:
    """Plain text as escaped HTML that keeps its line breaks."""
    return "<br>".join(esc(line) for line in text.splitlines())


def references(answer: Answer) -> str:
    """The numbered references under an answer in the chat (escaped), and why the llm mode
    answered extractively when its model failed."""
    failed = (answer.verification or {}).get("generation_error")
    return _references(answer) + (f"\n\nHinweis: {esc(failed)}" if failed else "")


def _references(answer: Answer) -> str:
    if answer.citations:
        return "\n\nQuellen: " + " · ".join(f"[{c.n}] {esc(where(c))}" for c in answer.citations)
    if answer.closest:
        return "\n\n" + CLOSEST_NOTE  # the chat renders no Markdown: plain text, no asterisks
    return ""


def link(c: Citation, chunk: Chunk | None) -> str | None:
    """Where a citation points: the web page, or the file served by the app (PDF at its page)."""
    if c.source.startswith(("http://", "https://")):
        return c.source
    if chunk is None:
        return None
    url = f"/api/documents/{urlquote(chunk.doc_id)}/file"
    return f"{url}#page={c.page}" if c.page is not None else url


def highlighted(passage: str, quote: str) -> str:
    """The passage, escaped, with the quoted sentence marked (or the quote alone if not found)."""
    at = passage.find(quote) if quote else -1
    if at < 0:
        return f"<mark>{esc(quote)}</mark>"
    end = at + len(quote)
    return f"{esc(passage[:at])}<mark>{esc(quote)}</mark>{esc(passage[end:])}"


def sources_html(svc: Service, answer: Answer) -> str:
    """The sources panel: per citation its number, title, page, link and highlighted quote."""
    cites = answer.citations or answer.closest
    if not cites:
        return NO_SOURCES
    chunks = svc.pipeline.store.get([c.chunk_id for c in cites if c.chunk_id])
    head = "" if answer.citations else "<p>Keine Antwort in den Quellen. Am nächsten kamen:</p>"
    parts = []
    for i, c in enumerate(cites, start=1):
        chunk = chunks.get(c.chunk_id)
        href = link(c, chunk)
        title = esc(where(c))
        if href:
            title = f"<a href='{html.escape(href)}' target='_blank' rel='noopener'>{title}</a>"
        if answer.citations:  # the quoted sentence marked, and on its PDF page
            n, page = c.n, page_view(svc, c, chunk)
            body = highlighted(chunk.text, c.quote) if chunk else f"<mark>{esc(c.quote)}</mark>"
        else:  # a refusal's closest passages: nothing in them answers, so nothing is marked
            n, page, body = i, "", esc(chunk.text if chunk else c.quote)
        parts.append(f"<div class='quelle' id='quelle-{n}'><div class='kopf'>[{n}] {title}</div>"
                     f"<blockquote>{body}</blockquote>{page}</div>")
    return head + "".join(parts)


def page_view(svc: Service, c: Citation, chunk: Chunk | None) -> str:
    """For a PDF citation: its page as an image with the quote marked (and the next page too,
    where the quote runs on), each linked to the PDF at that page. Nothing where the quote is
    not found on the page: no image rather than one without or with a wrong mark."""
    f = svc.document_file(chunk.doc_id) if chunk is not None and c.page is not None else None
    if f is None or f.suffix.lower() != ".pdf":
        return ""
    try:
        found = highlight.located(f, c.page, c.quote)  # waits while an upload's reader runs
    except Exception:  # noqa: BLE001 - the page is an extra: the answer and its passage still show
        logging.getLogger(__name__).warning("Seitenbild für %s, S. %s misslungen", f.name, c.page,
                                            exc_info=True)
        return ""
    base = f"/api/documents/{urlquote(chunk.doc_id)}"
    out = []
    for p in found["pages"]:
        n = p["page"]
        ys = [y for box in p["boxes"] for y in (box[1], box[3])]
        focus = 100 * (1 - (min(ys) + max(ys)) / 2 / p["height"])  # the mark stays in view
        src = html.escape(f"{base}/pages/{n}.png?quote={urlquote(c.quote, safe='')}")
        href = html.escape(f"{base}/file#page={n}")
        out.append(f"<a class='seite' href='{href}' target='_blank' rel='noopener' "
                   f"title='PDF an Seite {n} öffnen'><img src='{src}' loading='lazy' "
                   f"alt='Seite {n} mit dem markierten Zitat' style='object-position: 50% {focus:.0f}%'>"
                   f"<span>S. {n}: das Zitat ist gelb markiert; ein Klick öffnet das PDF an "
                   "dieser Seite.</span></a>")
    return "".join(out)


def status_html(svc: Service) -> str:
    """Index status and the list of documents, each linked to its file."""
    s = svc.status()
    rows = "".join(f"<li><a href='{html.escape(d['url'])}' target='_blank' rel='noopener'>"
                   f"{esc(d['title'])}</a> ({esc(d['file'])}, {d['chunks']} Abschnitte)</li>"
                   for d in svc.documents())
    state = "bereit" if s["ready"] else "leer – bitte Dokumente hochladen oder neu einlesen"
    return (f"<p><b>Index:</b> {state} · {s['documents']} Dokumente · {s['chunks']} Abschnitte</p>"
            f"<ul>{rows}</ul>")


def build_ui(svc: Service) -> gr.Blocks:
    """The Blocks of the chat page; per-browser state lives in gr.State, never on a shared object."""
    modes = svc.modes()
    settings = svc.pipeline.settings
    with gr.Blocks(title=settings.ui_title, analytics_enabled=False,
                   delete_cache=(3600, 3600)) as demo:  # uploaded copies leave Gradio's cache
        gr.Markdown(f"# {settings.ui_title}\n{settings.ui_subtitle}", elem_id="kopf")
        history = gr.State([])  # this session's answers: question, answer JSON, mode, chat index
        with gr.Tabs():
            with gr.Tab("Fragen", elem_id="tab-fragen"):
                with gr.Row():
                    with gr.Column(scale=3):
                        chat = gr.Chatbot(label="Gespräch", height=440, elem_id="chat",
                                          placeholder="Stellen Sie unten eine Frage.", buttons=["copy"],
                                          render_markdown=False)  # document text is shown, not rendered
                        with gr.Row():
                            box = gr.Textbox(placeholder="Ihre Frage …", show_label=False, scale=5,
                                             elem_id="frage", autofocus=True)
                            send = gr.Button("Fragen", variant="primary", scale=1, elem_id="senden")
                        if settings.ui_examples:
                            gr.Examples(settings.ui_examples, inputs=box, label="Beispielfragen")
                        mode = gr.Radio([(MODE_LABELS.get(m, m), m) for m in modes], value=modes[0],
                                        label="Antwortmodus", elem_id="modus", interactive=len(modes) > 1,
                                        info=None if len(modes) > 1 else
                                        "Ein Sprachmodell ist hier nicht eingerichtet.")
                    with gr.Column(scale=2):
                        gr.Markdown("### Quellen")
                        sources = gr.HTML(NO_SOURCES, elem_id="quellen")
                with gr.Accordion("Dokumente und Index", open=False, elem_id="dokumente"):
                    status = gr.HTML(status_html(svc), elem_id="index-status")
                    types = svc.pipeline.settings.upload_types
                    upload = gr.File(label=f"Dokument hochladen ({', '.join(t[1:].upper() for t in types)}; "
                                     f"höchstens {svc.max_upload // 2**20} MB)", file_types=types,
                                     type="filepath", elem_id="hochladen")
                    message = gr.HTML(elem_id="meldung")
                    reindex = gr.Button("Korpus neu einlesen", elem_id="neu-einlesen")
            build_evaluation_tab(svc)  # the tab „Auswertung“

        def respond(question: str, messages: list, hist: list, mode_: str):
            """Stream the answer into the chat, then fill the sources panel."""
            question = (question or "").strip()
            if not question:
                yield "", messages, hist, gr.skip()
                return
            messages = [*messages, {"role": "user", "content": esc(question)},
                        {"role": "assistant", "content": ""}]
            text = ""
            # the answers too: "Und der zweite?" picks from the last answer's list
            earlier = [m for h in hist for m in ({"role": "user", "content": h["question"]},
                                                 {"role": "assistant", "content": h["answer"]["answer"]})]
            try:
                parts = svc.stream(question, mode_, earlier)
            except RequestError as e:  # too long, model busy (429), …: said in the chat
                messages[-1] = {"role": "assistant", "content": esc(str(e))}
                yield "", messages, hist, gr.skip()
                return
            with closing(parts):  # a closed page stops the answer and frees the model
                for part in parts:  # each piece is shown at once: a verified sentence in llm mode
                    if isinstance(part, str):
                        text += part
                        messages[-1] = {"role": "assistant", "content": esc(text)}
                        yield "", messages, hist, gr.skip()
                    else:
                        messages[-1] = {"role": "assistant", "content": esc(text) + references(part)}
                        hist = [*hist, {"question": question, "answer": part.to_json(),
                                        "mode": mode_, "index": len(messages) - 1}]
                        yield "", messages, hist, sources_html(svc, part)

        def rate(hist: list, data: gr.LikeData) -> None:
            """Append 👍/👎 for the rated answer to the feedback file."""
            index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
            record = next((h for h in hist if h["index"] == index), None)
            if record is not None and data.liked in (True, False):  # not on taking a rating back
                svc.feedback(record["question"], record["answer"], data.liked is True, record["mode"])
                gr.Info("Danke für Ihre Rückmeldung.")

        def add(path: str | None, progress=gr.Progress(track_tqdm=True)):  # noqa: B008
            """Check, save and index an uploaded file, with progress."""
            if not path:
                return gr.skip(), gr.skip(), gr.skip()
            progress(0, desc="Datei wird geprüft …")
            f = Path(path)
            try:
                if f.stat().st_size > svc.max_upload:
                    raise RequestError(413, f"Datei zu groß (höchstens {svc.max_upload // 2**20} MB).")
                doc_id, report = svc.add_document(f.name, f.read_bytes(), progress=True)
            except RequestError as e:
                return f"<b>Nicht eingelesen:</b> {esc(str(e))}", status_html(svc), None
            title = next((d["title"] for d in svc.documents() if d["id"] == doc_id), f.name)
            summary = lines(ingest_summary(replace(report, missing=[])))
            return f"<b>„{esc(title)}“ eingelesen.</b><br>{summary}", status_html(svc), None

        def renew(progress=gr.Progress(track_tqdm=True)):  # noqa: B008
            """Re-read the corpus folder."""
            progress(0, desc="Korpus wird eingelesen …")
            return lines(ingest_summary(svc.reindex(progress=True))), status_html(svc)

        ask = {"fn": respond, "inputs": [box, chat, history, mode], "outputs": [box, chat, history, sources]}
        box.submit(**ask)
        send.click(**ask)
        chat.like(rate, [history], None)
        chat.clear(lambda: ([], NO_SOURCES), None, [history, sources])
        upload.upload(add, [upload], [message, status, upload])
        reindex.click(renew, None, [message, status])
    return demo


def mount_ui(app: FastAPI, svc: Service) -> FastAPI:
    """Mount the UI at / of the app: no analytics, no run history, no SSR, uploads capped."""
    return gr.mount_gradio_app(app, build_ui(svc), path="/", footer_links=[], run_history=False,
                               ssr_mode=False, mcp_server=False, max_file_size=svc.max_upload,
                               css=CSS, show_error=True)
