"""A new tenant gets its audit chain heads in the transaction that creates it, so that no later
transaction has to create them while it holds other locks (see audit.services._create_heads)."""

from __future__ import annotations

from typing import Any


def tenant_created(sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if created and not raw:
        from .services import ensure_chain_heads

        ensure_chain_heads(instance)
