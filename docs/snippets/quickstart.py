"""Quick start (a placeholder until the real one lands): what recnotes knows about."""

from recnotes.registry import STAGES, specs

print("pipeline stages:", ", ".join(STAGES))
print("registered models:", [spec.name for spec in specs()])
