"""The pipeline's stages, engine-free: `prepare(batch) -> Prepared` on plain data, then
`settle(outbox, prepared)` in the exactly-once order (settle.py). Ports: streams/core/ports.py."""
