"""Deploy-as conversion speed: a seeded sample of SigmaHQ rules converted into every target by one
`Converter`, as a build worker does. Prints CPU seconds (`time.process_time`) and milliseconds a rule, and a
digest of every conversion, so two commits can be compared for speed and for identical output:

    .venv/bin/python bench/deploy.py [--shared ../shared] [--rules 500] [--seed 11]
    PYTHONPATH=OTHER/src .venv/bin/python bench/deploy.py ...   # the same sample at another commit

Asserts nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import time
from pathlib import Path

from ruleatlas.analysis import deploy

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--shared", type=Path, default=Path(os.environ.get("RULEATLAS_SHARED", ROOT.parent / "shared"))
    )
    parser.add_argument("--rules", type=int, default=500)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    files = sorted((args.shared / "corpus" / "sigma" / "rules").rglob("*.yml"))
    sample = random.Random(args.seed).sample(files, min(args.rules, len(files)))
    bodies = [f.read_text(encoding="utf-8", errors="surrogateescape") for f in sample]
    converter = deploy.Converter()
    converter.convert(bodies[0])  # imports and backends, as a worker's first rule pays
    start = time.process_time()
    converted = [[c.to_json() for c in converter.convert(body)] for body in bodies]
    seconds = time.process_time() - start
    digest = hashlib.sha256(json.dumps(converted, sort_keys=True).encode()).hexdigest()[:16]
    refused = sum(1 for rule in converted for c in rule if c["error"])
    print(f"module: {deploy.__file__}")
    print(
        f"{len(bodies)} rules x {len(deploy.TARGETS)} targets: {seconds:.2f} s CPU, "
        f"{seconds / len(bodies) * 1000:.1f} ms a rule; {refused} refusals; conversions digest {digest} "
        f"(load average {os.getloadavg()[0]:.1f})"
    )


if __name__ == "__main__":
    main()
