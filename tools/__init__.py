"""Tools the tests and the benchmarks share: building (`build-ferretdb.sh`) and running (`ferretdb_server`)
the MongoDB-protocol test server, FerretDB v2 over a private PostgreSQL cluster with DocumentDB
(`postgres_server`), and running HTTP servers as processes (`http_server`). They depend on neither the
tests nor the benchmarks."""
