"""Tests of assistant/text/."""
