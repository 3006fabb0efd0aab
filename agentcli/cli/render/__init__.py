"""Rendering for people and scripts: events, show, tables, Markdown export."""
