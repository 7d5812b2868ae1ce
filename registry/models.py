"""The local population register: people, households and cohabitations, the street register with
its house numbers (civici), residence history, and the legacy import runs.

Codes (civil status, relationship, species) are ANPR codes from registry/data/ (registry.codes);
every row carries its tenant. Rules live in registry.services; the database keeps what it can
enforce itself (one open residence and one current household per person, no overlapping
residences on PostgreSQL, a civico is unique on its street while in use).
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from accounts.models import TenantScopedModel

from . import codes


class Street(TenantScopedModel):
    """A street or square of the municipality's street register (stradario, toponomastica)."""

    code = models.CharField(_("codice via"), max_length=20)  # the municipality's own code: the natural key
    species = models.PositiveSmallIntegerField(_("specie"))  # ANPR tabella 4 (VIA, PIAZZA, ...)
    name = models.CharField(_("denominazione"), max_length=200)
    search_name = models.CharField(max_length=260, db_index=True)
    anncsu_code = models.CharField(_("codice ANNCSU"), max_length=20, blank=True)
    locality = models.CharField(_("località"), max_length=100, blank=True)
    valid_from = models.DateField(_("istituita il"), null=True, blank=True)
    valid_to = models.DateField(_("soppressa il"), null=True, blank=True)
    former_names = models.JSONField(default=list, blank=True)  # [{"name": ..., "until": "YYYY-MM-DD"}]

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "code"], name="registry_street_unique_code")]
        ordering = ["search_name"]

    def __str__(self) -> str:
        return self.full_name

    @property
    def species_label(self) -> str:
        return codes.label("toponym_species", self.species)

    @property
    def full_name(self) -> str:
        species = self.species_label
        prefix = "" if not species or species == "ALTRO" else species.capitalize() + " "
        return f"{prefix}{self.name}"


class HouseNumber(TenantScopedModel):
    """A house number (civico) with its life: created, renamed (renumbered), suppressed."""

    street = models.ForeignKey(Street, on_delete=models.PROTECT, related_name="house_numbers")
    code = models.CharField(_("codice civico"), max_length=30)  # natural key
    number = models.PositiveIntegerField(_("numero"))
    suffix = models.CharField(_("esponente"), max_length=10, blank=True)
    anncsu_code = models.CharField(_("codice ANNCSU"), max_length=20, blank=True)
    created_on = models.DateField(_("istituito il"), null=True, blank=True)
    suppressed_on = models.DateField(_("soppresso il"), null=True, blank=True)
    replaced_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaces")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "code"], name="registry_civico_unique_code"),
            models.UniqueConstraint(fields=["street", "number", "suffix"], condition=Q(suppressed_on__isnull=True),
                                    name="registry_civico_unique_in_use"),
        ]
        ordering = ["street_id", "number", "suffix"]

    def __str__(self) -> str:
        return f"{self.street.full_name}, {self.label}"

    @property
    def label(self) -> str:
        return f"{self.number}{('/' + self.suffix) if self.suffix else ''}"


class HouseNumberEventKind(models.TextChoices):
    CREATED = "created", _("Istituito")
    RENAMED = "renamed", _("Rinumerato")
    SUPPRESSED = "suppressed", _("Soppresso")


class HouseNumberEvent(TenantScopedModel):
    house_number = models.ForeignKey(HouseNumber, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=HouseNumberEventKind.choices)
    date = models.DateField()
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["date", "id"]


class Sex(models.TextChoices):
    MALE = "M", _("Maschile")
    FEMALE = "F", _("Femminile")


class Person(TenantScopedModel):
    # Natural key of the legacy import; NULL (not "") for people registered here, so that the unique
    # constraint the import's upsert targets holds only among imported rows.
    legacy_id = models.CharField(max_length=30, null=True, blank=True)  # noqa: DJ001
    anpr_id = models.CharField(_("identificativo unico ANPR"), max_length=20, blank=True)
    fiscal_code = models.CharField(_("codice fiscale"), max_length=16, blank=True)
    fiscal_code_validation = models.PositiveSmallIntegerField(default=codes.CF_NOT_VALIDATED)
    family_name = models.CharField(_("cognome"), max_length=150)
    given_name = models.CharField(_("nome"), max_length=150)
    search_name = models.CharField(max_length=310)  # "family given", normalised: search by prefix
    sex = models.CharField(_("sesso"), max_length=1, choices=Sex.choices)
    birth_date = models.DateField(_("data di nascita"))
    birth_municipality_istat = models.CharField(max_length=6, blank=True)  # born in Italy
    birth_state_istat = models.CharField(max_length=3, blank=True)  # born abroad (ANPR tabella 2)
    birth_place_name = models.CharField(_("luogo di nascita"), max_length=150, blank=True)
    citizenships = models.JSONField(default=list, blank=True)  # ISTAT state codes; Italy is "100"
    civil_status = models.PositiveSmallIntegerField(_("stato civile"), default=codes.CIVIL_STATUS_UNKNOWN)
    death_date = models.DateField(_("data di morte"), null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "legacy_id"], name="registry_person_unique_legacy"),
            models.UniqueConstraint(fields=["tenant", "anpr_id"], condition=~Q(anpr_id=""),
                                    name="registry_person_unique_anpr"),
        ]
        indexes = [
            models.Index(fields=["tenant", "fiscal_code"]),
            models.Index(fields=["tenant", "search_name"]),
            models.Index(fields=["tenant", "birth_date"]),
        ]
        ordering = ["search_name", "birth_date"]

    def __str__(self) -> str:
        return f"{self.family_name} {self.given_name}"

    @property
    def civil_status_label(self) -> str:
        return codes.label("civil_status", self.civil_status)

    @property
    def fiscal_code_validated(self) -> bool:
        return self.fiscal_code_validation == codes.CF_VALIDATED

    @property
    def citizenship_names(self) -> list[str]:
        return [codes.state_name(c) for c in self.citizenships]


class DocumentKind(models.TextChoices):
    CIE = "cie", _("Carta d'identità elettronica")
    PAPER_ID = "paper_id", _("Carta d'identità cartacea")
    PASSPORT = "passport", _("Passaporto")
    DRIVING_LICENCE = "driving_licence", _("Patente di guida")
    RESIDENCE_PERMIT = "residence_permit", _("Permesso di soggiorno")


class IdentityDocument(TenantScopedModel):
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="documents")
    kind = models.CharField(max_length=20, choices=DocumentKind.choices)
    number = models.CharField(_("numero"), max_length=30)
    issued_by = models.CharField(_("rilasciato da"), max_length=150, blank=True)
    issued_on = models.DateField(null=True, blank=True)
    expires_on = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["person", "kind", "number"], name="registry_document_unique")]
        ordering = ["-issued_on", "id"]


class HouseholdKind(models.TextChoices):
    FAMILY = "family", _("Famiglia anagrafica")
    COHABITATION = "cohabitation", _("Convivenza anagrafica")


class Household(TenantScopedModel):
    """A household sheet (scheda di famiglia) or a cohabitation (convivenza: convent, care home, barracks)."""

    legacy_id = models.CharField(max_length=30, null=True, blank=True)  # noqa: DJ001 (see Person.legacy_id)
    kind = models.CharField(max_length=20, choices=HouseholdKind.choices, default=HouseholdKind.FAMILY)
    anpr_id = models.CharField(_("identificativo famiglia ANPR"), max_length=20, blank=True)
    name = models.CharField(_("denominazione"), max_length=200, blank=True)  # cohabitations
    species = models.PositiveSmallIntegerField(null=True, blank=True)  # cohabitations: ANPR tabella 27
    formed_on = models.DateField(_("costituita il"), null=True, blank=True)
    dissolved_on = models.DateField(_("cessata il"), null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "legacy_id"], name="registry_household_unique_legacy"),
            models.CheckConstraint(condition=Q(kind="family", species__isnull=True) | Q(kind="cohabitation"),
                                   name="registry_household_species_only_cohabitation"),
        ]

    def __str__(self) -> str:
        return self.name or f"{self.get_kind_display()} {self.anpr_id or self.legacy_id or self.pk}"

    @property
    def species_label(self) -> str:
        return codes.label("cohabitation_species", self.species)


class HouseholdMember(TenantScopedModel):
    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="members")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="memberships")
    relationship = models.PositiveSmallIntegerField(_("relazione con l'intestatario"))  # ANPR tabella 5
    joined_on = models.DateField()
    left_on = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["household", "person", "joined_on"], name="registry_member_unique"),
            models.UniqueConstraint(fields=["person"], condition=Q(left_on__isnull=True),
                                    name="registry_member_one_current_household"),
        ]
        ordering = ["relationship", "joined_on", "id"]

    @property
    def relationship_label(self) -> str:
        return codes.label("relationship", self.relationship)


class ResidenceEvent(models.TextChoices):
    BIRTH = "birth", _("Nascita")
    REGISTRATION = "registration", _("Iscrizione da altro comune")
    FROM_ABROAD = "from_abroad", _("Iscrizione dall'estero")
    INTERNAL_MOVE = "internal_move", _("Cambio di abitazione nel comune")
    DEPARTURE = "departure", _("Emigrazione in altro comune")
    AIRE = "aire", _("Espatrio (iscrizione AIRE)")
    DEATH = "death", _("Morte")
    UNTRACEABLE = "untraceable", _("Irreperibilità")
    OTHER = "other", _("Altro")


OPENING_EVENTS = frozenset({ResidenceEvent.BIRTH, ResidenceEvent.REGISTRATION, ResidenceEvent.FROM_ABROAD,
                            ResidenceEvent.INTERNAL_MOVE, ResidenceEvent.OTHER})
CLOSING_EVENTS = frozenset({ResidenceEvent.INTERNAL_MOVE, ResidenceEvent.DEPARTURE, ResidenceEvent.AIRE,
                            ResidenceEvent.DEATH, ResidenceEvent.UNTRACEABLE, ResidenceEvent.OTHER})


class Residence(TenantScopedModel):
    """One period of residence of a person at a civico: [start_date, end_date), end open while current.

    Half-open: a move on day D closes the old residence with end_date D and opens the new one on D.
    """

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="residences")
    house_number = models.ForeignKey(HouseNumber, on_delete=models.PROTECT, related_name="residences")
    household = models.ForeignKey(Household, null=True, blank=True, on_delete=models.SET_NULL, related_name="residences")
    interior = models.CharField(_("scala e interno"), max_length=30, blank=True)
    start_date = models.DateField(_("dal"))
    end_date = models.DateField(_("al"), null=True, blank=True)
    opening_event = models.CharField(max_length=20, choices=ResidenceEvent.choices)
    closing_event = models.CharField(max_length=20, choices=ResidenceEvent.choices, blank=True)
    anpr_operation_ref = models.CharField(_("riferimento operazione ANPR"), max_length=60, blank=True)
    legacy_id = models.CharField(max_length=30, null=True, blank=True)  # noqa: DJ001 (see Person.legacy_id)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "legacy_id"], name="registry_residence_unique_legacy"),
            models.UniqueConstraint(fields=["person"], condition=Q(end_date__isnull=True),
                                    name="registry_residence_one_open"),
            models.CheckConstraint(condition=Q(end_date__isnull=True) | Q(end_date__gte=F("start_date")),
                                   name="registry_residence_ordered_dates"),
            models.CheckConstraint(condition=Q(end_date__isnull=True, closing_event="")
                                   | Q(end_date__isnull=False) & ~Q(closing_event=""),
                                   name="registry_residence_closed_with_event"),
        ]
        # PostgreSQL also refuses overlapping periods of one person (exclusion constraint, migration 0002).
        ordering = ["-start_date"]


class ImportMode(models.TextChoices):
    DRY_RUN = "dry_run", _("Prova (nessuna scrittura)")
    COMMIT = "commit", _("Importazione")


class ImportStatus(models.TextChoices):
    RUNNING = "running", _("In corso")
    DONE = "done", _("Conclusa")
    FAILED = "failed", _("Interrotta da un errore")


class ImportPhase(models.TextChoices):
    RECONCILE = "reconcile", _("Riconciliazione dei file")
    ANPR_CHECK = "anpr_check", _("Verifica a campione con ANPR")
    COMMIT = "commit", _("Scrittura a lotti")
    REPORT = "report", _("Rapporto")
    DONE = "done", _("Conclusa")


class ImportRun(TenantScopedModel):
    """One run of the legacy import: its reconciliation report and, when committing, its progress.

    A commit run records the last batch it committed in the same transaction as the batch, so a
    run that crashed resumes after it (registry.legacy.importer)."""

    mode = models.CharField(max_length=20, choices=ImportMode.choices)
    status = models.CharField(max_length=20, choices=ImportStatus.choices, default=ImportStatus.RUNNING)
    source = models.CharField(max_length=500)  # the folder as given on the command line
    fingerprint = models.CharField(max_length=64)  # SHA-256 over the input files: resume only the same input
    batch_size = models.PositiveIntegerField(default=1000)
    total_batches = models.PositiveIntegerField(default=0)
    last_batch = models.PositiveIntegerField(default=0)  # batches committed so far
    counts = models.JSONField(default=dict)  # per entity: read, accepted, corrected, rejected, new, existing
    report_dir = models.CharField(max_length=500, blank=True)
    started_by = models.CharField(max_length=150, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    # What the run is doing now, for the live progress page (registry/_import_progress.html).
    phase = models.CharField(max_length=20, choices=ImportPhase.choices, default=ImportPhase.RECONCILE)
    # The check of a sample of the accepted people against ANPR (registry.legacy.anpr_sample):
    # size, checked, matching, mismatched, not_found, errors, error.
    anpr_sample = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["tenant", "fingerprint", "mode", "status"])]

    def __str__(self) -> str:
        return f"{self.pk} {self.mode} {self.source}"


class IssueSeverity(models.TextChoices):
    REJECTED = "rejected", _("Scartato")
    CORRECTED = "corrected", _("Corretto")
    WARNING = "warning", _("Da verificare")


class ImportIssue(models.Model):
    run = models.ForeignKey(ImportRun, on_delete=models.CASCADE, related_name="issues")
    entity = models.CharField(max_length=30)
    line = models.PositiveIntegerField()  # line of the CSV file (header is line 1)
    key = models.CharField(max_length=60, blank=True)
    severity = models.CharField(max_length=20, choices=IssueSeverity.choices)
    reason = models.CharField(max_length=40)  # machine code, English
    message = models.CharField(max_length=400)  # Italian, for the operator

    class Meta:
        ordering = ["entity", "line", "id"]
        indexes = [models.Index(fields=["run", "severity"])]


    def __str__(self) -> str:
        return f"{self.entity}:{self.line} {self.reason}"


# --- civil-status registers (registri di stato civile) ----------------------------------------------
# Acts are drawn up as drafts, then closed: closing gives the act its number in its register
# (per kind, year, part and series, gap-free) and makes it immutable. Corrections are annotations.
# PostgreSQL refuses changes to a closed act's content, to its parties and to any annotation
# (triggers, migration 0003_civil_status); elsewhere registry.civil_status.services refuses them.


class ActKind(models.TextChoices):
    BIRTH = "birth", _("Nascita")
    MARRIAGE = "marriage", _("Matrimonio")
    DEATH = "death", _("Morte")
    CITIZENSHIP = "citizenship", _("Cittadinanza")
    CIVIL_UNION = "civil_union", _("Unione civile")


# ANSC event types (decodifica ANSC_01, `1_dec_tipo_evento.csv`): see registry/ANSC_MAPPING.md.
ANSC_EVENT_TYPE = {ActKind.BIRTH: 1, ActKind.DEATH: 2, ActKind.MARRIAGE: 3, ActKind.CIVIL_UNION: 4,
                   ActKind.CITIZENSHIP: 5}


class ActStatus(models.TextChoices):
    DRAFT = "draft", _("In redazione")
    CLOSED = "closed", _("Chiuso")


class CivilAct(TenantScopedModel):
    """An act of a civil-status register: its place in the register, who drew it up, when, its
    structured data (validated per kind, registry.civil_status.schema) and its text."""

    kind = models.CharField(_("registro"), max_length=20, choices=ActKind.choices)
    year = models.PositiveSmallIntegerField(_("anno"))
    part = models.CharField(_("parte"), max_length=5, default="1")
    series = models.CharField(_("serie"), max_length=5, blank=True)
    number = models.PositiveIntegerField(_("numero"), null=True, blank=True)  # given when the act is closed
    office = models.CharField(_("ufficio"), max_length=150)
    officer = models.CharField(_("ufficiale dello stato civile"), max_length=150)
    act_date = models.DateField(_("data dell'atto"))
    data = models.JSONField(default=dict, blank=True)
    text = models.TextField(_("testo"), blank=True)
    status = models.CharField(max_length=10, choices=ActStatus.choices, default=ActStatus.DRAFT)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.CharField(max_length=150, blank=True)
    ansc_id = models.CharField(_("identificativo ANSC"), max_length=60, blank=True)  # once ANSC knows the event
    legacy_id = models.CharField(max_length=30, null=True, blank=True)  # noqa: DJ001 (see Person.legacy_id)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "legacy_id"], name="registry_act_unique_legacy"),
            models.UniqueConstraint(fields=["tenant", "kind", "year", "part", "series", "number"],
                                    condition=Q(number__isnull=False), name="registry_act_unique_number"),
            models.CheckConstraint(condition=Q(status="draft") | Q(number__isnull=False, closed_at__isnull=False),
                                   name="registry_act_closed_has_number"),
        ]
        indexes = [models.Index(fields=["tenant", "kind", "year", "number"])]
        ordering = ["-year", "kind", "part", "series", "number", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.register_reference}"

    @property
    def register_reference(self) -> str:
        number = self.number if self.number is not None else "-"
        series = f" serie {self.series}" if self.series else ""
        return f"{self.year} parte {self.part}{series} n. {number}"

    @property
    def is_closed(self) -> bool:
        return self.status == ActStatus.CLOSED

    @property
    def ansc_event_type(self) -> int:
        return ANSC_EVENT_TYPE[ActKind(self.kind)]


class ActRole(models.TextChoices):
    SUBJECT = "subject", _("Intestatario")  # the newborn, the new citizen
    SPOUSE = "spouse", _("Coniuge")
    DECEASED = "deceased", _("Defunto")
    PARTNER = "partner", _("Parte dell'unione civile")
    PARENT = "parent", _("Genitore")
    DECLARANT = "declarant", _("Dichiarante")
    WITNESS = "witness", _("Testimone")


class CivilActParty(TenantScopedModel):
    """A person of the population register named in an act, with their role in it."""

    act = models.ForeignKey(CivilAct, on_delete=models.CASCADE, related_name="parties")
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="act_parties")
    role = models.CharField(max_length=20, choices=ActRole.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["act", "person", "role"], name="registry_act_party_unique")]
        ordering = ["act_id", "role", "id"]


class ActNumberCounter(TenantScopedModel):
    """The last number given in one register (kind, year, part, series): locked while closing an act."""

    kind = models.CharField(max_length=20, choices=ActKind.choices)
    year = models.PositiveSmallIntegerField()
    part = models.CharField(max_length=5)
    series = models.CharField(max_length=5, blank=True)
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "kind", "year", "part", "series"],
                                               name="registry_act_counter_unique")]


class AnnotationKind(models.TextChoices):
    SEPARATION = "separation", _("Separazione personale")
    DIVORCE = "divorce", _("Scioglimento o cessazione degli effetti civili del matrimonio")
    ANNULMENT = "annulment", _("Annullamento")
    RECTIFICATION = "rectification", _("Rettificazione")
    RECOGNITION = "recognition", _("Riconoscimento di figlio")
    NAME_CHANGE = "name_change", _("Cambiamento del nome o del cognome")
    CITIZENSHIP = "citizenship", _("Acquisto o perdita della cittadinanza")
    UNION_DISSOLUTION = "union_dissolution", _("Scioglimento dell'unione civile")
    PROPERTY_REGIME = "property_regime", _("Convenzioni patrimoniali")
    DEATH = "death", _("Morte")
    OTHER = "other", _("Altro")


class ActAnnotation(TenantScopedModel):
    """An annotation (annotazione) in the margin of a closed act: the only way to correct or
    complete it. Never changed or removed once written (PostgreSQL refuses it too)."""

    act = models.ForeignKey(CivilAct, on_delete=models.PROTECT, related_name="annotations")
    kind = models.CharField(_("tipo"), max_length=30, choices=AnnotationKind.choices)
    date = models.DateField(_("data"))
    authority = models.CharField(_("autorità"), max_length=200, blank=True)  # court, officer, prefect
    reference = models.CharField(_("riferimento dell'atto"), max_length=200, blank=True)  # decree, judgment, act
    text = models.TextField(_("testo"), blank=True)
    data = models.JSONField(default=dict, blank=True)  # rectification: {"field": ..., "value": ...}
    recorded_by = models.CharField(max_length=150, blank=True)
    legacy_id = models.CharField(max_length=30, null=True, blank=True)  # noqa: DJ001 (see Person.legacy_id)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "legacy_id"], name="registry_annotation_unique_legacy")]
        ordering = ["date", "id"]


class ActCaseLink(TenantScopedModel):
    """A procedure's case that leads to a civil-status act: the marriage banns lead to the marriage
    act (art. 64 D.P.R. 396/2000: the act states when the banns were published). The case is plain
    data (id, number: the registry does not depend on cases). `act` stays empty while the act is
    not drawn up and closed yet; closing a marriage act naming the same spouses within the banns' validity fills
    it (civil_status.services). Kept apart from the act, which is immutable once closed."""

    act = models.ForeignKey(CivilAct, null=True, blank=True, on_delete=models.PROTECT, related_name="case_links")
    act_kind = models.CharField(max_length=20, choices=ActKind.choices)
    relation = models.CharField(max_length=20)  # "banns"
    case_id = models.BigIntegerField()
    case_number = models.CharField(max_length=60)
    fiscal_codes = models.JSONField(default=list)  # the spouses named by the case, upper case, sorted
    valid_from = models.DateField(null=True, blank=True)  # the banns' window for the celebration
    valid_to = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField()
    linked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "case_id", "relation"],
                                               name="registry_act_case_link_unique")]
        indexes = [models.Index(fields=["tenant", "act_kind"], name="registry_act_link_pending_idx",
                                condition=Q(act__isnull=True))]
        ordering = ["created_at", "id"]


class AnprNotificationStatus(models.TextChoices):
    PENDING = "pending", _("Da comunicare")
    SENT = "sent", _("Comunicata")
    FAILED = "failed", _("Non riuscita")


class AnprNotification(TenantScopedModel):
    """A communication to ANPR that a civil-status act makes due (today: death), recorded in the
    same transaction as the act: a transactional outbox. `registry.anpr_sender` sends the pending
    rows (2001 for a death), retrying with back-off: nothing is lost if ANPR is down when the act
    is closed, and a row is sent once (the ANPR operation id derives from the row)."""

    event = models.CharField(max_length=20)  # "death"
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="anpr_notifications")
    act = models.ForeignKey(CivilAct, null=True, blank=True, on_delete=models.PROTECT, related_name="anpr_notifications")
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=AnprNotificationStatus.choices,
                              default=AnprNotificationStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    anpr_operation_ref = models.CharField(max_length=60, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # The sender's outbox bookkeeping (registry.anpr_sender): when to try next, a lease while a
    # worker holds the row, and ANPR's last refusal or fault in words.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["act", "event"], name="registry_anpr_notification_once")]
        indexes = [models.Index(fields=["tenant", "status"])]
        ordering = ["created_at", "id"]


# --- ANPR alignment check ------------------------------------------------------------------------------


class AlignmentRun(TenantScopedModel):
    """One comparison of the local register with ANPR (C020/C021 lookups, rate-limited)."""

    status = models.CharField(max_length=20, choices=ImportStatus.choices, default=ImportStatus.RUNNING)
    limit = models.PositiveIntegerField(null=True, blank=True)
    checked = models.PositiveIntegerField(default=0)
    lookups = models.PositiveIntegerField(default=0)
    started_by = models.CharField(max_length=150, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]


class DifferenceStatus(models.TextChoices):
    OPEN = "open", _("Da esaminare")
    APPLIED = "applied", _("Correzione applicata")
    DISMISSED = "dismissed", _("Archiviata")


class AlignmentDifference(TenantScopedModel):
    """A difference between the local register and ANPR, with the fix proposed. Nothing is
    corrected by the check itself: a supervisor applies (or dismisses) each fix, audited."""

    run = models.ForeignKey(AlignmentRun, on_delete=models.CASCADE, related_name="differences")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="alignment_differences")
    field = models.CharField(max_length=40)  # machine name: anpr_id, family_name, residence, ...
    local_value = models.CharField(max_length=300, blank=True)
    anpr_value = models.CharField(max_length=300, blank=True)
    fix = models.CharField(max_length=40)  # machine code of the proposed fix (registry.alignment.FIXES)
    message = models.CharField(max_length=400)  # Italian, for the supervisor
    status = models.CharField(max_length=10, choices=DifferenceStatus.choices, default=DifferenceStatus.OPEN)
    decided_by = models.CharField(max_length=150, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run_id", "person_id", "id"]
        indexes = [models.Index(fields=["tenant", "status"])]


from .certificates.models import (  # noqa: E402,F401  (issue 13: certificates)
    Certificate,
    CertificateBase,
    CounterPaymentStatus,
    CounterStampPayment,
    StampMode,
)
