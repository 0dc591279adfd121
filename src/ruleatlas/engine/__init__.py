"""The Sigma engine: compile rules once, route and prefilter events, match, correlate.

See docs/engine-contract.md for the modules and their interfaces.
"""

from ruleatlas.engine.compile import CompiledRule, CompiledSet, compile_rules

__all__ = ["CompiledRule", "CompiledSet", "compile_rules"]
