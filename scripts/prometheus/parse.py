"""Parses OpenMetrics text with the reference parser (the Python prometheus_client's) and prints
every sample as one JSON object per line: {"name", "labels", "value"}. Exits 1 with the
parser's message if the text does not parse.

usage: scripts/prometheus/.venv/bin/python scripts/prometheus/parse.py FILE
(scripts/prometheus/setup.sh installs the virtualenv.)
"""

import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    try:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                print(json.dumps({"family": family.name, "type": family.type,
                                  "name": s.name, "labels": s.labels, "value": s.value}))
    except ValueError as e:
        print(f"parse.py: {sys.argv[1]} is not valid OpenMetrics: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
