"""Tests of assistant/serve/."""
