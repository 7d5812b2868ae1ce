"""Publish the small conformance models of tests/engine/models/ as process versions."""

from __future__ import annotations

from pathlib import Path

from engine.bundles import Bundle
from engine.models import ProcessVersion
from engine.registry import process_version_publish

MODELS_DIR = Path(__file__).parent / "engine" / "models"


def publish_model(name: str, *, also: tuple[str, ...] = ()) -> ProcessVersion:
    """Publish tests/engine/models/<name>.bpmn with its forms, DMN files and `also` models."""
    files: dict[str, str] = {"manifest.yaml": f"name: {name}\ncategory: test\n"}
    for stem in (name, *also):
        files[f"{stem}.bpmn"] = (MODELS_DIR / f"{stem}.bpmn").read_text()
        for form in MODELS_DIR.glob(f"{stem}.*.json"):
            files[f"forms/{form.name}"] = form.read_text()
    for dmn in MODELS_DIR.glob("*.dmn"):
        files[dmn.name] = dmn.read_text()
    outcome = process_version_publish(bundle=Bundle(process_id=name, files=files, manifest={"name": name}))
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
