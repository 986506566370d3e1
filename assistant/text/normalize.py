"""German text: normalization."""


from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_ZERO_WIDTH = re.compile(r"[\u00ad\u200b\u200c\u200d\u2060\ufeff]")
_MANY_NEWLINES = re.compile(r"\n{3,}")


def normalize(text: str) -> str:
    """NFKC, soft hyphens and zero-width marks removed, whitespace collapsed; umlauts kept."""
    text = unicodedata.normalize("NFKC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _ZERO_WIDTH.sub("", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _MANY_NEWLINES.sub("\n\n", "\n".join(lines)).strip()


def decode_text(data: bytes) -> tuple[str, str]:
    """Text of a file's bytes and the encoding used: UTF-8, UTF-16 with BOM, else Windows-1252."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Notepad's "Unicode"
        return data.decode("utf-16", errors="replace"), "UTF-16"
    try:
        return data.decode("utf-8-sig"), "UTF-8"
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), "Windows-1252"  # old files: keep umlauts


def looks_binary(text: str) -> bool:
    """Whether decoded text is really binary data: a NUL, or over 1 % control characters."""
    head = text[:65536]
    return "\x00" in head or len(re.findall(r"[\x01-\x08\x0e-\x1f\ufffd]", head)) > len(head) // 100
