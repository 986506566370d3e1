"""Tests of assistant/evaluate/."""
