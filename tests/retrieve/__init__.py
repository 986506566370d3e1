"""Tests of assistant/retrieve/."""
