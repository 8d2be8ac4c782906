"""The Faust adapter: everything that knows Faust, aiokafka's internals or the embedded Tansu
broker lives here, and nowhere else in the tree.

- `app.py` wires topics, tables, agents and the ingest consumer; `runtime.py` runs a worker;
- `customers.py`, `alerts.py`, `ingest.py`, `ingest_consumer.py`: the stages' adapters;
- `paced_take.py`, `recovery.py`, `record_batches.py`: workarounds of Faust's behaviour, each
  with the measured reason in its docstring and a test that fails without it;
- `broker.py`: the embedded broker (Tansu) and topic creation; `replay.py`: `sqm replay
  --engine faust`; `stop_guard.py`: SIGTERM while the event loop is busy.
"""
