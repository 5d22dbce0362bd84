"""Backends turn rendered prompt text into streamed completions."""
