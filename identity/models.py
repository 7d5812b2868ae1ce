from django.db import models


class SeenAssertion(models.Model):
    """An assertion ID already used to sign in, kept until the assertion expires: a second use is a replay."""

    assertion_id = models.CharField(max_length=200)
    idp_entity_id = models.CharField(max_length=500)
    expires_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["idp_entity_id", "assertion_id"], name="seen_assertion_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.idp_entity_id} {self.assertion_id}"
