"""Any llama-index `LLM` as the assistant's generator (settings `llm = "llama-index"`,
`llm_class`, `llm_kwargs`): Ollama, vLLM, Azure OpenAI, LlamaCPP … through their llama-index
packages. Kept apart from assistant.integrations.llama_index, which builds on the pipeline: the
pipeline builds this generator."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.llms import LLM

from assistant.answer.generation import GenerationError, Message


class LlamaIndexGenerator:
    """A llama-index `LLM` as the assistant's Generator: `stream_chat`, piece by piece. Sampling
    (temperature, max_tokens) is the LLM's own configuration, as llama-index sets it."""

    def __init__(self, llm: LLM) -> None:
        if not isinstance(llm, LLM):
            raise TypeError(f"{type(llm).__name__} ist kein llama-index-LLM "
                            "(llama_index.core.llms.LLM).")
        self.llm = llm
        self.name = f"llama-index:{type(llm).__name__}:{llm.metadata.model_name}"

    def stream(self, messages: list[Message], max_tokens: int, temperature: float) -> Iterator[str]:
        chat = [ChatMessage(role=m["role"], content=m["content"]) for m in messages]
        said = ""
        try:
            for r in self.llm.stream_chat(chat):
                piece = r.delta if r.delta is not None else (r.message.content or "")[len(said):]
                said += piece
                if piece:
                    yield piece
        except Exception as e:  # any backend's error: the answer falls back to extractive
            raise GenerationError(f"Das llama-index-LLM {type(self.llm).__name__} schlug fehl: "
                                  f"{type(e).__name__}: {e}") from e


def load_llm(class_path: str, kwargs: dict[str, Any] | None = None) -> LLM:
    """The llama-index LLM named by its class path, e.g. "llama_index.llms.ollama.Ollama", built
    with `kwargs`; a German error names what is missing."""
    module_name, _, name = class_path.rpartition(".")
    if not module_name:
        raise ValueError(f"llm_class „{class_path}“: bitte den vollen Klassenpfad angeben, z. B. "
                         "„llama_index.llms.ollama.Ollama“.")
    try:
        cls = getattr(importlib.import_module(module_name), name)
    except ModuleNotFoundError as e:
        package = module_name.replace("_", "-").replace(".", "-")
        raise ValueError(f"llm_class „{class_path}“: Modul {e.name} fehlt (Paket installieren, "
                         f"z. B. pip install {package}).") from e
    except AttributeError as e:
        raise ValueError(f"llm_class „{class_path}“: {module_name} hat keine Klasse {name}.") from e
    llm = cls(**(kwargs or {}))
    if not isinstance(llm, LLM):
        raise ValueError(f"llm_class „{class_path}“ ist kein llama-index-LLM.")
    return llm
