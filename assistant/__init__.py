"""Offline German question answering with cited sources."""
