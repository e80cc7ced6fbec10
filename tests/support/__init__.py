"""The harness of the tests, the demo and the benchmark, in one place: a moto server on loopback and
playbook runs against it (sandbox), a fault-injecting proxy in front of it (faults), and the
environment the original walk-through started from (demo_environment).

Importable as ``support`` with ``tests/`` on the path: pytest.ini puts it there for the tests, the
Makefile (PYTHONPATH=tests) for the demo, the benchmark and the tools."""
