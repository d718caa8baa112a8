"""Benchmarks are standalone scripts run by hand (see docs/performance.md), never by pytest."""

collect_ignore_glob = ["*.py"]
