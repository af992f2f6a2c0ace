"""A module a hostile config names: importing it would be a bug."""

raise RuntimeError("registry imported a module named by a preset's config")
