"""meta models."""
