"""Publish the small conformance models of tests/engine/models/ as process versions."""

from __future__ import annotations

from pathlib import Path

import yaml

from engine.bundles import Bundle
from engine.models import ProcessVersion
from engine.registry import process_version_publish

MODELS_DIR = Path(__file__).parent / "engine" / "models"


# Any office role or a citizen may open a test process at the counter or the portal (with any data).
TEST_ACCESS = {"channel": ["counter", "portal"],
               "starters": ["registrar", "civil_registrar", "police", "supervisor", "citizen"],
               "start_form": "start.schema.json", "subjects_path": "declarants[*].fiscal_code"}


def inline_bundle(process_id: str, name: str, files: dict[str, str], *, manifest_extra: dict | None = None) -> Bundle:
    """An in-memory bundle of `files` with a manifest named `name` that anybody may start."""
    manifest = {"name": name, "category": "test", **TEST_ACCESS, **(manifest_extra or {})}
    return Bundle(process_id=process_id, manifest=manifest, files={
        **files, "manifest.yaml": yaml.safe_dump(manifest, allow_unicode=True),
        "forms/start.schema.json": '{"type": "object"}',
    })


def publish_model(name: str, *, also: tuple[str, ...] = (), manifest_extra: dict | None = None) -> ProcessVersion:
    """Publish tests/engine/models/<name>.bpmn with its forms, DMN files and `also` models."""
    files: dict[str, str] = {}
    for stem in (name, *also):
        files[f"{stem}.bpmn"] = (MODELS_DIR / f"{stem}.bpmn").read_text()
        for form in MODELS_DIR.glob(f"{stem}.*.json"):
            files[f"forms/{form.name}"] = form.read_text()
    for dmn in MODELS_DIR.glob("*.dmn"):
        files[dmn.name] = dmn.read_text()
    outcome = process_version_publish(bundle=inline_bundle(name, name, files, manifest_extra=manifest_extra))
    return ProcessVersion.objects.select_related("definition").get(
        definition__process_id=name, version=outcome.version
    )


BUNDLES_DIR = Path(__file__).parent / "engine" / "bundles"
BENCH_DIR = Path(__file__).resolve().parent.parent / "bench"


def publish_bundle(name: str) -> ProcessVersion:
    """Publish a folder bundle of tests/engine/bundles/<name>/ (or bench/<name>/)."""
    from engine.bundles import read_bundle

    folder = BUNDLES_DIR / name if (BUNDLES_DIR / name).is_dir() else BENCH_DIR / name
    outcome = process_version_publish(bundle=read_bundle(folder))
    return ProcessVersion.objects.select_related("definition").get(
        definition__process_id=name, version=outcome.version
    )
