"""The attack suite: hostile presets, uploads and names (issue: untrusted presets)."""
