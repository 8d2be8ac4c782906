"""What a running worker tells about itself: Prometheus metrics, liveness and readiness, served
over HTTP on `SQM_METRICS_PORT` (docs/deploy.md, "Monitoring the workers")."""
