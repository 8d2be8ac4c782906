"""`sqm whatif`: the contacts of a period recomputed from their stored events under another SLA
policy, side by side with the policy that produced the stored rows (docs/whatif.md).

- `source`: what is read from the store (SELECTs only, on a read-only connection);
- `recompute`: stored events → contact views under one policy, with the shards' own core;
- `indicators`: the scorecard's indicators over contact views (as `sqm.scorecard_indicators`);
- `compare`: the side-by-side rows per tenant, channel and queue, and the changed contacts;
- `policies`: which policy is "current" and which "proposed";
- `render`, `html`: the table, CSV, JSON and HTML outputs; `command`: the command itself.
"""
