"""RuleAtlas: one catalog of detection rules, ATT&CK and telemetry, with a Sigma engine."""

__version__ = "0.1.0"
