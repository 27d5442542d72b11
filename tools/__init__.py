"""Tools the tests and the benchmarks share: building (`build-ferretdb.sh`) and running (`ferretdb_server`)
the FerretDB test server, on SQLite or on PostgreSQL (a private cluster: `postgres_server`). They depend on
neither the tests nor the benchmarks."""
