"""The benchmark harness of issue 4: what the database drivers cost beside raw pymongo, the disk and
raw sqlite3. Run `python -m bench` (or `make bench`); `--quick` for a smoke run. See BENCHMARKS.md."""
