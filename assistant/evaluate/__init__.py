"""Evaluation: question sets, metrics, runs and the evaluation page's jobs."""
