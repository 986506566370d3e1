"""Tests of assistant/read/."""
