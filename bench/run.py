"""Run every bench/bench_*.py module's main(), or those named on the command line.

python bench/run.py                 # all
python bench/run.py members_api     # bench/bench_members_api.py only
"""

import importlib
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str]) -> int:
    names = argv or sorted(p.stem[len("bench_") :] for p in (ROOT / "bench").glob("bench_*.py"))
    for name in names:
        module = importlib.import_module(f"bench.bench_{name}")
        print(f"\n=== bench {name} ===", flush=True)
        module.main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
