"""pytest plugin: run the tests with the set-based batch writer prototype of
bench/experiments.py (`pytest -p bench.experiments_plugin tests/integration/...`)."""

from bench.experiments import install_batched_writer

install_batched_writer()
