from django.conf import settings
from django.db import models

from accounts.models import TenantScopedModel


class Draft(TenantScopedModel):
    """A task form saved but not submitted ("Salva bozza"): one per work item and user.

    The work item is referenced by id, not by foreign key: `cases` depends on `forms`,
    never the other way round."""

    work_item_id = models.BigIntegerField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    data = models.JSONField(default=dict)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["work_item_id", "user"], name="draft_unique_per_user")]

    def __str__(self) -> str:
        return f"draft {self.work_item_id} by {self.user_id}"


class Municipality(models.Model):
    """One row of ANPR's archive of Italian municipalities (current and former), the authoritative
    list for ISTAT and Belfiore codes with their validity (`ANPR_archivio_comuni.csv`, CC BY 4.0).

    Loaded from the archive shipped in forms/data/ by migration 0003 and `manage.py load_municipalities`.
    A code may appear on several rows (renamings): `current` marks the row in force today.
    """

    anpr_id = models.PositiveIntegerField(unique=True)
    istat_code = models.CharField(max_length=6, db_index=True)
    belfiore_code = models.CharField(max_length=4, db_index=True)
    name = models.CharField(max_length=200)
    search_name = models.CharField(max_length=200, db_index=True)  # lower case, accents removed
    other_name = models.CharField(max_length=200, blank=True)  # second official language
    province = models.CharField(max_length=4, blank=True)
    valid_from = models.DateField(null=True)
    valid_to = models.DateField(null=True)
    current = models.BooleanField(default=False, db_index=True)

    class Meta:
        ordering = ["-current", "name"]

    def __str__(self) -> str:
        return self.label

    @property
    def display_name(self) -> str:
        """BAGNI DI LUCCA -> Bagni di Lucca; CASTEL D'AZZANO -> Castel d'Azzano."""
        small = {"di", "del", "della", "dello", "dei", "degli", "delle", "da", "dal", "in", "e", "ed", "sul",
                 "sulla", "al", "alla", "allo", "ai", "agli", "con", "su", "sopra", "sotto", "de", "la", "lo"}
        words = []
        for index, word in enumerate(self.name.lower().split(" ")):
            if "'" in word:
                head, _sep, tail = word.partition("'")
                word = (head if head in ("d", "l", "dell", "sant", "nell", "all") and index else head.capitalize()) \
                    + "'" + tail.capitalize()
            elif index and word in small:
                pass
            else:
                word = "-".join(part.capitalize() for part in word.split("-"))
            words.append(word)
        return " ".join(words)

    @property
    def label(self) -> str:
        return f"{self.display_name} ({self.province})" if self.province else self.display_name
