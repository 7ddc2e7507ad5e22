"""multitask models."""
