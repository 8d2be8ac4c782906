"""Engines that run the stages: `faust` (a streaming worker over Kafka) and the direct runner
(`streams/direct.py`)."""
