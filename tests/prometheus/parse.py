"""Parse Prometheus scrapes with the Prometheus project's own Python parsers and print them as
JSON, for tests/metrics_endpoints.rs.

Usage: parse.py FILE...   A file whose name ends in `.om` is parsed as OpenMetrics 1.0 (strict:
it must end with `# EOF`), any other as the text format 0.0.4. Prints one JSON object: file ->
list of families {name, type, documentation, samples: [{name, labels, value}]}. Exits non-zero
(with the parser's message) when a file does not parse.
"""

import json
import math
import sys

from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families as text_families


def value(v):
    # JSON has no NaN or infinities; the tests compare numbers, so make them strings.
    return v if math.isfinite(v) else str(v)


def main(paths):
    out = {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        parse = openmetrics_families if path.endswith(".om") else text_families
        try:
            families = list(parse(text))
        except Exception as e:  # the parser's own message is the point
            print(f"{path}: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
        out[path] = [
            {
                "name": fam.name,
                "type": fam.type,
                "documentation": fam.documentation,
                "samples": [
                    {"name": s.name, "labels": s.labels, "value": value(s.value)}
                    for s in fam.samples
                ],
            }
            for fam in families
        ]
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
