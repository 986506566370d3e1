"""Tests of assistant/answer/."""
