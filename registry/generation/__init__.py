"""Generation outside the web server: worker processes that hold causal LMs.

The web server never imports Keras. It runs `python -m registry.generation.worker`
processes (`web/generation.py` keeps the pool) and talks to each over its
stdin and stdout in JSON lines (`protocol`): a request in, the text out as it
is generated, then how it ended.
"""
