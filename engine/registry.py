"""Publishing process bundles as immutable versions (`manage.py sync_processes`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from .bundles import Bundle, BundleError, read_bundle, validate_bundle
from .manifest import Manifest, deed_render_problems
from .models import ProcessDefinition, ProcessVersion


@dataclass(frozen=True)
class SyncOutcome:
    process_id: str
    version: int
    created: bool


def bundle_folders(root: Path | None = None) -> list[Path]:
    root = Path(root or settings.PROCEDO_PROCESSES_DIR)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / f"{p.name}.bpmn").exists())


def validate_all(root: Path | None = None) -> dict[str, list[str]]:
    return {folder.name: validate_bundle(read_bundle(folder)) for folder in bundle_folders(root)}


@transaction.atomic
def process_version_publish(*, bundle: Bundle) -> SyncOutcome:
    """Create a new version when the bundle's content changed; refuse an invalid bundle."""
    problems = validate_bundle(bundle) or deed_render_problems(bundle.process_id, bundle.manifest, bundle.files)
    if problems:
        raise BundleError(problems)
    manifest = Manifest.parse(bundle.process_id, bundle.manifest, bundle.files)
    definition, _ = ProcessDefinition.objects.select_for_update().get_or_create(
        process_id=bundle.process_id,
        defaults={"name": manifest.name},
    )
    fields = {
        "name": manifest.name,
        "category": manifest.category,
        "description": manifest.description,
    }
    if any(getattr(definition, k) != v for k, v in fields.items()):
        ProcessDefinition.objects.filter(pk=definition.pk).update(**fields)
    content_hash = bundle.content_hash
    existing = definition.versions.filter(content_hash=content_hash, tenant__isnull=True).first()
    if existing is not None:
        return SyncOutcome(bundle.process_id, existing.version, created=False)
    last = definition.versions.order_by("-version").first()
    number = (last.version + 1) if last else 1
    ProcessVersion.objects.create(
        definition=definition,
        version=number,
        content_hash=content_hash,
        files=bundle.files,
        manifest=bundle.manifest,
    )
    return SyncOutcome(bundle.process_id, number, created=True)


def sync_processes(root: Path | None = None) -> list[SyncOutcome]:
    return [process_version_publish(bundle=read_bundle(folder)) for folder in bundle_folders(root)]


@transaction.atomic
def tenant_version_publish(*, tenant, bundle: Bundle, based_on: ProcessVersion) -> ProcessVersion:
    """Publish a tenant's own variant of a shipped procedure (the studio, after four eyes).

    The same checks as `sync_processes` (validation, deed templates rendered with sample data); the
    version belongs to `tenant` only and takes the next number of the procedure's sequence. An
    identical variant already published by the tenant is returned as is."""
    problems = validate_bundle(bundle) or deed_render_problems(bundle.process_id, bundle.manifest, bundle.files)
    if problems:
        raise BundleError(problems)
    definition = ProcessDefinition.objects.select_for_update().get(process_id=bundle.process_id)
    content_hash = bundle.content_hash
    existing = definition.versions.filter(content_hash=content_hash, tenant=tenant).first()
    if existing is not None:
        return existing
    last = definition.versions.order_by("-version").first()
    return ProcessVersion.objects.create(
        definition=definition,
        tenant=tenant,
        based_on=based_on,
        version=(last.version + 1) if last else 1,
        content_hash=content_hash,
        files=bundle.files,
        manifest=bundle.manifest,
    )
