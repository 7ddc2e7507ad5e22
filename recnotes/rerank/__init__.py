"""rerank models."""
