"""The run, layer 4: the Pub/Sub entry point (acknowledge or redeliver), the pipeline that reads
top-down (payload → plan → lease → steps → finish → run row), the steps (extract → stage → load →
merge → commit), fan-out item resolution and the run's clock.

Imports: everything below. Nothing imports it but `ops` (and functions/main.py).
"""
