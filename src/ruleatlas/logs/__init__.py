"""Log readers: EVTX, JSON and JSONL (plain or gzip) streamed as `Event`s, with every unreadable file,
record or line reported as an `InputProblem`. One package for the scan, the readiness report and the
build's log samples; it depends on nothing else of RuleAtlas."""
