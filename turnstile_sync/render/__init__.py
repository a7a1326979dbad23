"""Renderers: each takes a Plan (or an apply report) and a stream, and never decides exit codes."""
