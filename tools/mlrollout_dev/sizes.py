"""The size of each built function and layer, unzipped and zipped, as `sam build` left them.

python -m mlrollout_dev.sizes .aws-sam/build [--max-function-mb 1] [--max-layer-mb 15]
"""

from __future__ import annotations

import argparse
import io
import json
import zipfile
from pathlib import Path


def measure(directory: Path) -> tuple[int, int]:
    unzipped = 0
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                unzipped += path.stat().st_size
                archive.write(path, path.relative_to(directory))
    return unzipped, len(buffer.getvalue())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("build", type=Path)
    parser.add_argument("--max-function-mb", type=float, default=1.0)
    parser.add_argument("--max-layer-mb", type=float, default=15.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    for directory in sorted(p for p in args.build.iterdir() if p.is_dir()):
        kind = "layer" if (directory / "python").is_dir() else "function"
        unzipped, zipped = measure(directory)
        limit = (args.max_layer_mb if kind == "layer" else args.max_function_mb) * 1_000_000
        rows.append(
            {
                "artifact": directory.name,
                "kind": kind,
                "unzipped_bytes": unzipped,
                "zipped_bytes": zipped,
                "within_limit": unzipped <= limit,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"{'artifact':<36} {'kind':<9} {'unzipped':>12} {'zipped':>12}")
        for row in rows:
            flag = "" if row["within_limit"] else "  OVER LIMIT"
            print(
                f"{row['artifact']:<36} {row['kind']:<9} {row['unzipped_bytes']:>12,} {row['zipped_bytes']:>12,}{flag}"
            )
    return 0 if all(r["within_limit"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
