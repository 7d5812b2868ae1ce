"""Append-only audit trail: SHA-256 hash chains, several per tenant (audit/services.py explains the shards)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditAction(models.TextChoices):
    CREATE = "create"
    READ = "read"
    UPDATE = "update"
    DELETE = "delete"
    SIGN = "sign"
    EXPORT = "export"
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    COMPLETE = "complete"
    CLAIM = "claim"
    UNCLAIM = "unclaim"
    ASSIGN = "assign"
    CANCEL = "cancel"
    SYSTEM = "system"


class AuditChainHead(models.Model):
    """The last link of a chain; locked FOR UPDATE while an event is appended."""

    chain_key = models.CharField(max_length=32, unique=True)  # "<tenant id>[.<shard>]", or "system"
    last_seq = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"{self.chain_key}@{self.last_seq}"


class AuditEvent(models.Model):
    tenant = models.ForeignKey("accounts.Tenant", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    chain_key = models.CharField(max_length=32)
    seq = models.PositiveBigIntegerField()
    created_at = models.DateTimeField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor_username = models.CharField(max_length=150, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=20, choices=AuditAction.choices)
    object_type = models.CharField(max_length=50)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=300, blank=True)
    summary = models.TextField(blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    extra = models.JSONField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["chain_key", "seq"], name="audit_chain_seq_unique")]
        indexes = [
            models.Index(fields=["tenant", "created_at"]),
            models.Index(fields=["tenant", "object_type", "object_id"]),
            models.Index(fields=["tenant", "actor_username"]),
        ]
        ordering = ["chain_key", "seq"]

    def __str__(self) -> str:
        return f"{self.chain_key}#{self.seq} {self.action} {self.object_type}:{self.object_id}"


class AuditSeal(models.Model):
    """A signed statement that a chain had reached (seq, hash) at sealed_at: the anchor that makes
    deleting the tail of a chain, or the whole chain, detectable. Append-only like the events
    (PostgreSQL triggers refuse UPDATE, DELETE and TRUNCATE)."""

    tenant = models.ForeignKey("accounts.Tenant", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    chain_key = models.CharField(max_length=32)
    seq = models.PositiveBigIntegerField()
    hash = models.CharField(max_length=64)
    event_created_at = models.DateTimeField()
    sealed_at = models.DateTimeField()
    algorithm = models.CharField(max_length=32)
    certificate = models.TextField()  # PEM of the certificate whose key signed
    signature = models.TextField()  # base64 over audit.seal.seal_payload(...)

    class Meta:
        indexes = [models.Index(fields=["chain_key", "seq"])]
        ordering = ["chain_key", "seq", "id"]

    def __str__(self) -> str:
        return f"seal {self.chain_key}@{self.seq} {self.sealed_at:%Y-%m-%d %H:%M}"
