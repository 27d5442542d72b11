"""Tools the tests and the benchmarks share: building (`build-ferretdb.sh`) and running (`ferretdb_server`)
the FerretDB test server. They depend on neither the tests nor the benchmarks."""
