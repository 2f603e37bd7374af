"""LLM teachers over OpenAI-compatible chat endpoints (caption, reason, rewrite, verify)."""
