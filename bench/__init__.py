"""Benchmarks for warroom (`make bench`, `python -m bench --list`).

Not part of the installed package: run from the repository root with the project's venv.
"""
