"""Tests of assistant/integrations/."""
