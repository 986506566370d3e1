"""Tests of assistant/indexing/."""
