"""The web UI (Gradio), mounted into the FastAPI app of assistant.serve.api."""
