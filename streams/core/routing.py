"""Which shard (partition of `sqm.by-customer`) owns a customer."""

from __future__ import annotations

import zlib


def shard_for(tenant_id: str, customer_id: str, shards: int) -> int:
    # crc32 is stable across processes and Python versions, unlike hash().
    return zlib.crc32(f"{tenant_id}\x1f{customer_id}".encode()) % shards
