"""Choose Office readers by measurement: our readers (assistant/read/office.py: python-docx, openpyxl,
python-pptx, odfpy) against markitdown (Office -> Markdown) read by our own Markdown reader.

Three readers per file:
  ours        load_document(f): the blocks the pipeline indexes.
  markitdown  MarkItDown().convert(f) -> Markdown -> markup.markdown_blocks (what adopting it
              as-is would index).
  md+adapter  the same Markdown after the glue adopting it would need (see `adapt`): split at
              the slide markers / sheet headings into pages, blank lines around tables, an empty
              mammoth header row dropped, pandas' NaN / "Unnamed: n" removed, image markup
              reduced to its alt text. It shows what markitdown can give at best, not a product.

markitdown lives in its own venv (--markitdown-python, default /tmp/mdv/bin/python) and runs
there as one subprocess that converts every file (1 warm-up + median of 5 per file).

Two sets: "gen" = the realistic files tests/read/test_office.py generates (hand-written expectations:
headings, list items with their lead-in, table rows naming their header, page of a row, tracked
deletion GEHEIMALT and comment KOMMENTARGEHEIM that must not appear, images); "real" = any
.docx/.pptx/.xlsx/.odt/.ods in --real DIR (we used markitdown's own test files), with
expectations taken from the files' XML, independent of both readers (heading-styled paragraphs,
slide titles, sheet names, table rows, comments and w:delText, media files), plus the strings
markitdown's own test vectors require ("probes").

Usage (from /work/main):
  PYTHONPATH=. .venv/bin/python bench/office_readers.py [--real /tmp/office_real]
      [--markitdown-python /tmp/mdv/bin/python]
Outputs: bench/out/office_readers.json, .md (the printed tables), .png
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.read.corpus import _assemble, load_document  # noqa: E402
from assistant.read.markup import markdown_blocks  # noqa: E402
from assistant.text.normalize import normalize  # noqa: E402
from assistant.types import SHEET, SLIDE, Block  # noqa: E402
from bench.common import OUT, machine, pyplot, save, table  # noqa: E402

RUNS = 5
READERS = ("ours", "markitdown", "md+adapter")
SECRETS = ("GEHEIMALT", "KOMMENTARGEHEIM")

# --- the generated set: hand-written expectations -------------------------------------------

GEN = {
    "dienstanweisung.docx": ("make_docx", {
        "headings": ["Dienstanweisung Vertretung im Bauordnungsamt", "Vertretung bei Abwesenheit",
                     "Zuständigkeiten"],
        "lists": [("Bei einer Abwesenheit von mehr als drei Arbeitstagen gilt:",
                   ["Frau Dr. Petersen vertritt die Sachbearbeitung.",
                    "Herr Okafor zeichnet die Eingangsbestätigungen."])],
        "rows": ["Bauordnungsamt – Zuständigkeit: Baugenehmigungen, Telefon: 0421 361-100",
                 "Ordnungsamt – Zuständigkeit: Sondernutzungen, Telefon: 0421 361-200"],
        "pages": {}, "secrets": list(SECRETS), "images": 1,
        "probes": ["Die Übergabe erfolgt schriftlich.", "Rückfragen klärt die Amtsleitung."]}),
    "gebuehren.xlsx": ("make_xlsx", {
        "headings": ["Gebühren 2024", "Hunde"], "lists": [],
        "rows": ["Personalausweis – Gebühr (Euro): 37, Rechtsgrundlage: PAuswGebV",
                 "Reisepass – Gebühr (Euro): 70, Rechtsgrundlage: PassV",
                 "Erster Hund – Steuer im Jahr: 120"],
        "pages": {"Reisepass": (1, f"{SHEET}„Gebühren 2024“"),
                  "Erster Hund": (2, f"{SHEET}„Hunde“")},
        "secrets": [], "images": 0, "probes": []}),
    "bauantrag.pptx": ("make_pptx", {
        "headings": ["Digitaler Bauantrag", "Gebühren"],
        "lists": [("Der Antrag wird online gestellt:",
                   ["Formular im Bürgerportal ausfüllen", "Pläne als PDF hochladen"])],
        "rows": ["Vereinfachtes Verfahren – Gebühr: 500 Euro", "Regelverfahren – Gebühr: 1.200 Euro"],
        "pages": {"Pläne als PDF hochladen": (1, f"{SLIDE}1"),
                  "Regelverfahren": (2, f"{SLIDE}2")},
        "secrets": [], "images": 1, "probes": []}),
    "hundesteuer.odt": ("make_odt", {
        "headings": ["Hundesteuersatzung der Stadt Musterstadt", "§ 4 Steuersatz",
                     "§ 5 Ermäßigungen"],
        "lists": [("Die Steuer beträgt im Jahr:",
                   ["für den ersten Hund 120 Euro,", "für jeden weiteren Hund 180 Euro."])],
        "rows": ["Blindenführhund – Ermäßigung: 100 %", "Wachhund – Ermäßigung: 50 %"],
        "pages": {}, "secrets": list(SECRETS), "images": 0,
        "probes": ["Die Steuer wird jährlich erhoben."]}),
    "entgelte.ods": ("make_ods", {
        "headings": ["Parken", "Märkte"], "lists": [],
        "rows": ["Innenstadt – Euro je Stunde: 2,50", "Wochenmarkt – Standgeld: 12"],
        "pages": {"Innenstadt": (1, f"{SHEET}„Parken“"), "Wochenmarkt": (2, f"{SHEET}„Märkte“")},
        "secrets": [], "images": 0, "probes": []}),
}

# strings markitdown's own test vectors require of its test files (tests/_test_vectors.py and
# test_module_misc.py, markitdown commit a51f725), Markdown markup removed
PROBES = {
    "test.docx": ["314b0a30-5b04-470b-b9f7-eed2c2bec74a", "49e168b7-d2ae-407f-a055-2167576f39a1",
                  "d666f1f7-46cb-42bd-9a39-9a39cf2a509f", "Abstract", "Introduction",
                  "AutoGen: Enabling Next-Gen LLM Applications via Multi-Agent Conversation"],
    "test_with_comment.docx": ["314b0a30-5b04-470b-b9f7-eed2c2bec74a",
                               "49e168b7-d2ae-407f-a055-2167576f39a1"],
    "test.xlsx": ["09060124-b5e7-4717-9d07-3c046eb", "6ff4173b-42a5-4784-9b19-f49caff4d93d",
                  "affc7dad-52dc-4b98-9b5d-51e65d8a8ad0"],
    "test.pptx": ["2cdda5c8-e50e-4db4-b5f0-9722a649f455", "04191ea8-5c73-4215-a1d3-1cfb43aaaf12",
                  "44bf7d06-5e7a-4a40-a2e1-a2e42ef28c8a", "1b92870d-e3b5-4e65-8153-919f4ff45592",
                  "AutoGen: Enabling Next-Gen LLM Applications via Multi-Agent Conversation",
                  "a3f6004b-6f4f-4ea8-bee3-3741f4dc385f", "2003",
                  "This phrase of the caption is Human-written.",
                  "This is a nested shape with content in 2 shapes"],  # a group shape
    "equations.docx": ["m=1"],
}

# --- the real set: expectations from the files' XML ------------------------------------------

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
P = "{http://schemas.openxmlformats.org/presentationml/2006/main}"
S = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
C = "{http://schemas.openxmlformats.org/drawingml/2006/chart}"
PKG = "{http://schemas.openxmlformats.org/package/2006/relationships}"
HEADING_STYLE = re.compile(r"^(heading\d|title|titel|berschrift\d|überschrift\d)$", re.I)


def _texts(node, tag: str) -> str:
    return "".join(t.text or "" for t in node.iter(tag))


def xml_expectations(path: Path) -> dict:
    """What a file holds, read from its XML without python-docx/-pptx/openpyxl or markitdown."""
    z = zipfile.ZipFile(path)
    names = z.namelist()
    exp = {"headings": [], "lists": [], "rows": 0, "pages": 0, "secrets": [], "images":
           sum(1 for n in names if re.match(r"(word|ppt|xl)/media/", n)),
           "probes": PROBES.get(path.name, [])}
    suffix = path.suffix.lower()
    if suffix == ".docx":
        body = ET.fromstring(z.read("word/document.xml"))
        styles = {}  # style id -> name: ids are localized ("1" in a Chinese Word), names not
        if "word/styles.xml" in names:
            for st in ET.fromstring(z.read("word/styles.xml")).iter(f"{W}style"):
                name = st.find(f"{W}name")
                styles[st.get(f"{W}styleId")] = name.get(f"{W}val") if name is not None else ""
        for p in body.iter(f"{W}p"):
            style = p.find(f"{W}pPr/{W}pStyle")
            style = "" if style is None else style.get(f"{W}val", "")
            if HEADING_STYLE.match(styles.get(style, style).replace(" ", "")):
                text = normalize(_texts(p, f"{W}t")).strip()
                if text:
                    exp["headings"].append(text)
        exp["rows"] = sum(max(0, len(t.findall(f"{W}tr")) - 1) for t in body.iter(f"{W}tbl"))
        exp["secrets"] = [normalize(d.text or "").strip() for d in body.iter(f"{W}delText")]
        if "word/comments.xml" in names:
            comments = ET.fromstring(z.read("word/comments.xml"))
            exp["secrets"] += [normalize(_texts(c, f"{W}t")).strip()
                               for c in comments.iter(f"{W}comment")]
    elif suffix == ".pptx":
        pres = ET.fromstring(z.read("ppt/presentation.xml"))
        exp["pages"] = len(pres.findall(f"{P}sldIdLst/{P}sldId"))
        for n in names:
            if not re.match(r"ppt/slides/slide\d+\.xml$", n):
                continue
            slide = ET.fromstring(z.read(n))
            for sp in slide.iter(f"{P}sp"):
                ph = sp.find(f"{P}nvSpPr/{P}nvPr/{P}ph")
                if ph is not None and ph.get("type") in ("title", "ctrTitle"):
                    text = normalize(_texts(sp, f"{A}t")).strip()
                    if text:
                        exp["headings"].append(text)
            exp["rows"] += sum(max(0, len(t.findall(f"{A}tr")) - 1) for t in slide.iter(f"{A}tbl"))
        for n in names:  # a chart's data is a table too: one row per category
            if re.match(r"ppt/charts/chart\d+\.xml$", n):
                cat = ET.fromstring(z.read(n)).find(f".//{C}cat")
                exp["rows"] += 0 if cat is None else len(cat.findall(f".//{C}pt"))
    elif suffix == ".xlsx":
        book = ET.fromstring(z.read("xl/workbook.xml"))
        rels = {r.get("Id"): r.get("Target") for r in
                ET.fromstring(z.read("xl/_rels/workbook.xml.rels")).iter(f"{PKG}Relationship")}
        for sheet in book.iter(f"{S}sheet"):
            target = rels[sheet.get(f"{R}id")].lstrip("/")
            target = target if target.startswith("xl/") else f"xl/{target}"
            data = ET.fromstring(z.read(target))
            rows = [r for r in data.iter(f"{S}row")
                    if any(c.find(f"{S}v") is not None or c.find(f"{S}is") is not None
                           for c in r.iter(f"{S}c"))]
            if rows:
                exp["headings"].append(sheet.get("name"))
                exp["rows"] += len(rows) - 1
                exp["pages"] += 1
    exp["secrets"] = [s for s in exp["secrets"] if len(s) >= 6]
    return exp


# --- markitdown, in its own venv --------------------------------------------------------------

MD_CHILD = r"""
import json, statistics, sys, time
t = time.perf_counter()
from markitdown import MarkItDown
md = MarkItDown()
out = {"init_s": time.perf_counter() - t, "files": {}}
for f in sys.argv[2:]:
    try:
        md.convert(f)
        times = []
        for _ in range(int(sys.argv[1])):
            t = time.perf_counter()
            r = md.convert(f)
            times.append(time.perf_counter() - t)
        out["files"][f] = {"markdown": r.text_content, "seconds": statistics.median(times)}
    except Exception as e:
        out["files"][f] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"}
print(json.dumps(out))
"""


def run_markitdown(python: str, files: list[Path]) -> dict:
    proc = subprocess.run([python, "-c", MD_CHILD, str(RUNS), *map(str, files)],
                          capture_output=True, text=True, timeout=1200, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- what adopting markitdown would take --------------------------------------------------------

_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_FILE_NAME = re.compile(r"^[\w .-]+\.(png|jpe?g|gif|bmp|emf|wmf|tiff?|svg)$", re.I)


def _alt(m: re.Match) -> str:
    alt = m.group(1).strip()
    return "" if not alt or _FILE_NAME.match(alt) else alt


def _fix_tables(md: str) -> str:
    """Blank lines around every table; an all-empty header (mammoth) dropped so the first row
    is the header; pandas' NaN and "Unnamed: n" cells emptied; empty rows and tables dropped."""
    out: list[str] = []
    lines = md.split("\n")
    i = 0
    while i < len(lines):
        if not lines[i].lstrip().startswith("|"):
            out.append(lines[i])
            i += 1
            continue
        j = i
        while j < len(lines) and lines[j].lstrip().startswith("|"):
            j += 1
        rows = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in lines[i:j]]
        rows = [["" if c in ("NaN", "nan") or re.match(r"^Unnamed: \d+$", c) else c for c in r]
                for r in rows]
        rule = [r for r in rows if any(r) and all(re.match(r"^:?-{3,}:?$", c) for c in r if c)]
        body = [r for r in rows if any(r) and r not in rule]
        if body:
            width = max(len(r) for r in body)
            out += ["", "| " + " | ".join(body[0]) + " |", "|" + " --- |" * width,
                    *("| " + " | ".join(r) + " |" for r in body[1:]), ""]
        i = j
    return "\n".join(out)


def adapt(md: str, suffix: str) -> list[Block]:
    """markitdown's Markdown as blocks with pages: a slide per `<!-- Slide number: n -->`
    ("Folie n"), a sheet per `## name` of an .xlsx ("Blatt „name“"), then _fix_tables."""
    md = _IMAGE.sub(_alt, md)
    parts: list[tuple[int | None, str | None, str]] = []
    if suffix == ".pptx":
        pieces = re.split(r"<!-- Slide number: (\d+) -->", md)
        parts = [(int(n), f"{SLIDE}{n}", text) for n, text in zip(pieces[1::2], pieces[2::2], strict=True)]
    elif suffix == ".xlsx":
        pieces = re.split(r"(?m)^## (.+)$", md)
        page = 0
        for name, text in zip(pieces[1::2], pieces[2::2], strict=True):
            if not re.search(r"\w", _fix_tables(text)):
                continue  # an empty sheet: no page, as ours
            page += 1
            parts.append((page, f"{SHEET}„{name.strip()}“", f"## {name}\n{text}"))
    else:
        parts = [(None, None, md)]
    blocks: list[Block] = []
    for page, label, text in parts:
        blocks += [replace(b, page=page, label=label) for b in markdown_blocks(_fix_tables(text))]
    return blocks


# --- scoring ---------------------------------------------------------------------------------


def score(blocks: list[Block], exp: dict, markdown: str | None, warnings: list[str],
          pages: int) -> dict:
    """The measures of one reader on one file (see the module docstring)."""
    doc = _assemble("x", "x", "x", blocks, {})
    text = doc.text
    headings = [b.text for b in doc.blocks if b.role == "heading"]
    found = [h for h in exp["headings"] if h in headings]
    lists_total = sum(len(items) for _, items in exp["lists"])
    lists_ok = sum(1 for lead, items in exp["lists"] for it in items
                   if any(b.role == "list" and b.text.startswith(lead) and it in b.text
                          for b in doc.blocks))
    table_lines = [ln for b in doc.blocks if b.role == "table" for ln in b.text.split("\n")[1:]]
    if isinstance(exp["rows"], list):
        rows_ok, rows_total = sum(1 for r in exp["rows"] if r in text), len(exp["rows"])
    else:  # real files: data rows that name at least one header
        rows_ok = sum(1 for ln in table_lines if re.search(r" – .+?: \S", ln))
        rows_total = exp["rows"]
    if isinstance(exp["pages"], dict):
        pages_ok = sum(1 for probe, (page, label) in exp["pages"].items()
                       if any(probe in b.text and b.page == page
                              and (b.label or f"{SLIDE}{b.page}") == label for b in doc.blocks))
        pages_total = len(exp["pages"])
    else:
        pages_ok = len({b.page for b in doc.blocks if b.page is not None})
        pages_total = exp["pages"]
    markers = len(re.findall(r"<!-- Slide number: \d+ -->", markdown or ""))
    noise = [ln for ln in text.split("\n")
             if re.search(r"<!--|\bNaN\b|Unnamed: \d|data:image|^\|[\s|:-]*\|?$|^\| .* \|$", ln)]
    repeated = sum(1 for i, b in enumerate(doc.blocks) if b.role != "heading" and any(
        h.role == "heading" and h.text == b.text and h.page == b.page for h in doc.blocks[:i]))
    noted = sum(int(m) for w in warnings for m in re.findall(r"(\d+) (?:eingebettete\(s\) )?Bild", w))
    return {
        "headings": [len(found), len(exp["headings"])], "headings_extra": len(headings) - len(found),
        "lists": [lists_ok, lists_total], "rows": [rows_ok, rows_total],
        "pages": [pages_ok, pages_total], "slide_markers": markers,
        "leaks": [s for s in exp["secrets"] if s in text],
        "images": {"in_file": exp["images"], "noted": noted,
                   "markup": len(_IMAGE.findall(markdown or ""))},
        "probes": [sum(1 for p in exp["probes"] if p in text), len(exp["probes"])],
        "missing_probes": [p for p in exp["probes"] if p not in text],
        "noise_lines": len(noise), "repeated_titles": repeated,
        "chars": len(text),
    }


def time_ours(path: Path) -> tuple[float, object]:
    loaded = load_document(path)  # warm-up (imports)
    times = []
    for _ in range(RUNS):
        t = time.perf_counter()
        loaded = load_document(path)
        times.append(time.perf_counter() - t)
    return statistics.median(times), loaded


def cold_start(python: str, code: str) -> float:
    """Median wall time of a fresh interpreter importing what reading needs (5 runs)."""
    times = []
    for _ in range(RUNS):
        proc = subprocess.run([python, "-c", f"import time; t = time.perf_counter(); {code}; "
                               "print(time.perf_counter() - t)"], capture_output=True, text=True,
                              check=True, cwd=ROOT)
        times.append(float(proc.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


WEIGHT_CHILD = r"""
import importlib.metadata as m, json, os, sys
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name as canon

def mb(d):
    total = 0
    for f in d.files or []:
        p = d.locate_file(f)
        if os.path.isfile(p):
            total += os.path.getsize(p)
    return total / 1e6

env = default_environment()
seen, queue = {}, [(r.split("[")[0], set(r.split("[")[1].rstrip("]").split(",")) if "[" in r else set())
                   for r in sys.argv[1:]]
while queue:
    name, extras = queue.pop()
    d = m.distribution(name)
    key = canon(d.metadata["Name"])
    if key in seen and extras <= seen[key]["extras"]:
        continue
    seen.setdefault(key, {"version": d.version, "mb": mb(d), "extras": set()})["extras"] |= extras
    for s in d.requires or []:
        r = Requirement(s)
        if r.marker and not any(r.marker.evaluate({**env, "extra": e}) for e in extras | {""}):
            continue
        queue.append((r.name, set(r.extras)))
installed = sorted(canon(d.metadata["Name"]) for d in m.distributions())
print(json.dumps({"closure": {k: {"version": v["version"], "mb": round(v["mb"], 2)}
                              for k, v in sorted(seen.items())}, "installed": installed}))
"""


def weight(python: str, roots: list[str]) -> dict:
    proc = subprocess.run([python, "-c", WEIGHT_CHILD, *roots], capture_output=True, text=True,
                          check=True)
    return json.loads(proc.stdout)


def du_mb(python: str) -> float | None:
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    out = subprocess.run(["du", "-sm", site], capture_output=True, text=True)
    return float(out.stdout.split()[0]) if out.returncode == 0 else None


# --- output ------------------------------------------------------------------------------------


def frac(pair: list[int]) -> str:
    return "–" if not pair[1] else f"{pair[0]}/{pair[1]}"


def rows_table(results: list[dict]) -> str:
    head = ["set", "file", "reader", "reads", "headings → sections", "list items w/ lead-in",
            "rows w/ header", "pages", "leaked (del./comment)", "images", "probes",
            "noise lines", "title repeated", "ms (median of 5)"]
    lines = []
    for r in results:
        if "error" in r:
            lines.append([r["set"], r["file"], r["reader"], f"no ({r['error'].split(':')[0]})"]
                         + ["–"] * 10)
            continue
        s = r["score"]
        extra = f" (+{s['headings_extra']})" if s["headings_extra"] else ""
        if r["reader"] == "markitdown" and r["file"].endswith(".pptx"):
            pages = f"{frac(s['pages'])}; {s['slide_markers']} slide markers"
        else:
            pages = frac(s["pages"])
        img = s["images"]
        images = ("–" if not img["in_file"] and not img["noted"] and not img["markup"] else
                  f"{img['in_file']}: " + (f"{img['noted']} noted" if r["reader"] == "ours"
                                           else f"{img['markup']}× `![…](…)`"))
        lines.append([r["set"], r["file"], r["reader"], "yes", frac(s["headings"]) + extra,
                      frac(s["lists"]), frac(s["rows"]), pages,
                      ", ".join(x[:20] for x in s["leaks"]) or "none", images, frac(s["probes"]),
                      s["noise_lines"], s["repeated_titles"], f"{1000 * r['seconds']:.1f}"])
    return table(head, lines)


def weight_table(w: dict) -> str:
    return table(["", "distributions", "MB on disk (RECORD)"], [
        ["our Office readers (python-docx, openpyxl, python-pptx, odfpy + deps)",
         len(w["ours"]["closure"]), f"{sum(v['mb'] for v in w['ours']['closure'].values()):.0f}"],
        ["markitdown[docx,pptx,xlsx] + deps", len(w["markitdown"]["closure"]),
         f"{sum(v['mb'] for v in w['markitdown']['closure'].values()):.0f}"],
        ["  of which not yet in the project venv", len(w["added"]),
         f"{sum(w['markitdown']['closure'][k]['mb'] for k in w['added']):.0f} "
         f"({', '.join(w['added'])})"],
        ["/tmp/mdv site-packages, du -sm (incl. pip, setuptools)", "", w["du_markitdown_mb"]],
    ])


def chart(results: list[dict], png: Path) -> None:
    plt = pyplot()
    measures = ["headings", "lists", "rows", "pages", "probes"]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 4.5))
    width = 0.27
    for k, reader in enumerate(READERS):
        vals = []
        for m in measures:
            got = tot = 0
            for r in results:
                if r["reader"] == reader and "score" in r:
                    got, tot = got + r["score"][m][0], tot + r["score"][m][1]
                elif r["reader"] == reader:  # unsupported format: counts as nothing found
                    ref = next(x for x in results if x["file"] == r["file"] and x["reader"] == "ours")
                    tot += ref["score"][m][1]
            vals.append(100 * got / tot if tot else 0)
        ax.bar([i + (k - 1) * width for i in range(len(measures))], vals, width, label=reader)
    ax.set_xticks(range(len(measures)), ["headings", "list+lead-in", "rows+header", "pages",
                                          "probes"])
    ax.set_ylabel("% of expected, both sets")
    ax.set_ylim(0, 119)
    ax.legend(loc="upper center", ncol=3, fontsize=8)
    ax.set_title("Structure kept (unsupported files count as 0)")
    files = [r["file"] for r in results if r["reader"] == "ours"]
    for k, reader in enumerate(("ours", "markitdown")):
        ms = [next((1000 * x["seconds"] for x in results if x["file"] == f and x["reader"] == reader
                    and "seconds" in x), 0) for f in files]
        bx.bar([i + (k - 0.5) * 0.4 for i in range(len(files))], ms, 0.4, label=reader)
    bx.set_xticks(range(len(files)), files, rotation=60, ha="right", fontsize=7)
    bx.set_yscale("log")
    bx.set_ylabel("ms per file, median of 5 (0 = unsupported)")
    bx.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=110)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--markitdown-python", default="/tmp/mdv/bin/python")
    ap.add_argument("--real", type=Path, default=None,
                    help="a folder of real .docx/.pptx/.xlsx/.odt/.ods files (second set)")
    args = ap.parse_args()

    import tests.read.test_office as gen

    folder = Path(tempfile.mkdtemp(prefix="office-bench-"))
    files: list[tuple[str, Path, dict]] = []
    for name, (maker, exp) in GEN.items():
        sub = folder / name.replace(".", "_")
        sub.mkdir()
        files.append(("gen", getattr(gen, maker)(sub / name), exp))
    if args.real:
        for f in sorted(args.real.iterdir()):
            if f.suffix.lower() in (".docx", ".pptx", ".xlsx", ".odt", ".ods"):
                files.append(("real", f, xml_expectations(f)))

    md = run_markitdown(args.markitdown_python, [f for _, f, _ in files])
    results = []
    for set_name, f, exp in files:
        base = {"set": set_name, "file": f.name}
        secs, loaded = time_ours(f)
        results.append({**base, "reader": "ours", "seconds": secs, "score": score(
            list(loaded.doc.blocks), exp, None, list(loaded.warnings), loaded.pages)})
        conv = md["files"][str(f)]
        if "error" in conv:
            results += [{**base, "reader": r, "error": conv["error"]} for r in READERS[1:]]
            continue
        for reader in READERS[1:]:
            t = time.perf_counter()
            blocks = (markdown_blocks(conv["markdown"]) if reader == "markitdown"
                      else adapt(conv["markdown"], f.suffix.lower()))
            post = time.perf_counter() - t
            results.append({**base, "reader": reader, "seconds": conv["seconds"] + post,
                            "post_seconds": post, "score": score(blocks, exp, conv["markdown"], [], 0)})

    shutil.rmtree(folder, ignore_errors=True)
    w_ours = weight(sys.executable, ["python-docx", "openpyxl", "python-pptx", "odfpy"])
    w_md = weight(args.markitdown_python, ["markitdown[docx,pptx,xlsx]"])
    installed = set(w_ours["installed"])
    weights = {"ours": w_ours | {"installed": None}, "markitdown": w_md | {"installed": None},
               "added": sorted(k for k in w_md["closure"] if k not in installed),
               "du_markitdown_mb": du_mb(args.markitdown_python)}
    cold = {"ours_s": cold_start(sys.executable, "import docx, openpyxl, pptx, odf.opendocument"),
            "markitdown_s": cold_start(args.markitdown_python,
                                       "from markitdown import MarkItDown; MarkItDown()")}

    text = "\n\n".join([
        rows_table(results), weight_table(weights),
        table(["cold start (fresh interpreter, median of 5)", "s"],
              [["import docx, openpyxl, pptx, odf", f"{cold['ours_s']:.2f}"],
               ["from markitdown import MarkItDown; MarkItDown()", f"{cold['markitdown_s']:.2f}"]]),
    ])
    print(text)
    missing = {f"{r['file']} / {r['reader']}": r["score"]["missing_probes"] for r in results
               if "score" in r and r["score"]["missing_probes"]}
    if missing:
        print("\nprobes missing:\n" + "\n".join(f"  {k}: {v}" for k, v in missing.items()))
    OUT.mkdir(parents=True, exist_ok=True)
    save(OUT, "office_readers", {"runs": RUNS, "markitdown_init_s": md["init_s"],
                                 "cold_start": cold, "weights": weights, "results": results,
                                 "markdown": {Path(k).name: v.get("markdown") for k, v in
                                              md["files"].items()}}, text)
    chart(results, OUT / "office_readers.png")
    print(f"\nwrote {OUT / 'office_readers.json'}, .md, .png; machine {machine()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
