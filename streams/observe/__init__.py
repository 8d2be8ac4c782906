"""What a running worker tells about itself: Prometheus metrics (`metrics.py`), their HTTP server
(`server.py`) and dead-letter reason categories, served on `SQM_METRICS_PORT` (docs/deploy.md,
"Monitoring the workers"). The liveness/readiness probe reads the Faust worker, so it lives
with the adapter: `streams/engine/faust/health.py`, wired by `observability.py` there."""
