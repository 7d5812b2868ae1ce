"""Validate JSON bodies against the official OpenAPI/Swagger files shipped with each connector.

A spec is named by its path in the connectors package (`connectors.base.specs.spec_path`).

We validate with jsonschema on the spec's own schemas (refs resolved inside the
document with `referencing`), which works for Swagger 2.0 (App IO), OpenAPI 3.0
(SEND) and 3.1 (pagoPA GPD) alike. OpenAPI 3.0's `nullable` is rewritten into a
JSON-Schema type union, the only 3.0 keyword that changes validation.
"""

from __future__ import annotations

import copy
import json
import threading
from functools import lru_cache
from typing import Any

import yaml
from django.utils.translation import gettext as _
from jsonschema import Draft4Validator, Draft202012Validator
from jsonschema.protocols import Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4, DRAFT202012

from .errors import InvalidRequest, InvalidResponse
from .specs import spec_path

__all__ = ["check_request", "check_response", "errors_for", "request_pointer", "response_pointer", "spec_path"]

_lock = threading.Lock()


def _nullable_to_union(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _nullable_to_union(v) for k, v in node.items()}
        if out.get("nullable") is True:
            t = out.get("type")
            if isinstance(t, str):
                out["type"] = [t, "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        return out
    if isinstance(node, list):
        return [_nullable_to_union(v) for v in node]
    return node


@lru_cache(maxsize=16)
def load_spec(relpath: str) -> dict[str, Any]:
    path = spec_path(relpath)
    text = path.read_text(encoding="utf-8")
    doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if str(doc.get("openapi", "")).startswith("3.0"):
        doc = _nullable_to_union(doc)
    return doc


def _is_31(doc: dict[str, Any]) -> bool:
    return str(doc.get("openapi", "")).startswith("3.1")


@lru_cache(maxsize=256)
def validator_for(relpath: str, pointer: str) -> Validator:
    """A validator for the schema at `pointer` (e.g. '#/definitions/NewMessage') in the spec file."""
    doc = load_spec(relpath)
    uri = f"urn:procedo-spec:{relpath}"
    spec = DRAFT202012 if _is_31(doc) else DRAFT4
    resource = Resource.from_contents(doc, default_specification=spec)
    registry = Registry().with_resource(uri, resource)
    cls = Draft202012Validator if _is_31(doc) else Draft4Validator
    schema: dict[str, Any] = {"$ref": f"{uri}{pointer}"}
    if cls is Draft202012Validator:
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return cls(schema, registry=registry)


def _operation(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    try:
        return doc["paths"][path][method.lower()]
    except KeyError as exc:
        raise KeyError(f"{method.upper()} {path} is not in the spec") from exc


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def request_pointer(relpath: str, method: str, path: str) -> str:
    doc = load_spec(relpath)
    op = _operation(doc, method, path)
    base = f"#/paths/{_escape(path)}/{method.lower()}"
    if "requestBody" in op:
        body = op["requestBody"]
        if "$ref" in body:
            name = body["$ref"].split("/")[-1]
            body = doc["components"]["requestBodies"][name]
            base = f"#/components/requestBodies/{_escape(name)}"
        media = "application/json" if "application/json" in body["content"] else next(iter(body["content"]))
        return f"{base}/requestBody/content/{_escape(media)}/schema" if base.startswith("#/paths") else \
            f"{base}/content/{_escape(media)}/schema"
    for index, param in enumerate(op.get("parameters", [])):
        if "$ref" in param:
            param_name = param["$ref"].split("/")[-1]
            resolved = doc.get("parameters", {}).get(param_name, {})
            if resolved.get("in") == "body":
                return f"#/parameters/{_escape(param_name)}/schema"
        elif param.get("in") == "body":
            return f"{base}/parameters/{index}/schema"
    raise KeyError(f"{method.upper()} {path} has no request body")


def response_pointer(relpath: str, method: str, path: str, status: int | str) -> str:
    doc = load_spec(relpath)
    op = _operation(doc, method, path)
    responses = op["responses"]
    key = str(status) if str(status) in responses else "default"
    response = responses[key]
    base = f"#/paths/{_escape(path)}/{method.lower()}/responses/{key}"
    if "$ref" in response:
        name = response["$ref"].split("/")[-1]
        section = "responses" if "swagger" in doc else "components/responses"
        base = f"#/{section}/{_escape(name)}"
        response = doc["responses"][name] if "swagger" in doc else doc["components"]["responses"][name]
    if "schema" in response:
        return f"{base}/schema"
    content = response.get("content") or {}
    for media in ("application/json", "application/problem+json", "*/*"):
        if media in content:
            return f"{base}/content/{_escape(media)}/schema"
    if content:
        return f"{base}/content/{_escape(next(iter(content)))}/schema"
    raise KeyError(f"{method.upper()} {path} {status} has no body schema")


def errors_for(relpath: str, pointer: str, instance: Any) -> list[str]:
    validator = validator_for(relpath, pointer)
    with _lock:
        errs = sorted(validator.iter_errors(copy.deepcopy(instance)), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in errs]


def check_request(relpath: str, method: str, path: str, body: Any) -> None:
    """Refuse (permanently) a request body that breaks the platform's contract before sending it."""
    errs = errors_for(relpath, request_pointer(relpath, method, path), body)
    if errs:
        raise InvalidRequest(
            _("La richiesta non rispetta le specifiche della piattaforma: %(error)s") % {"error": errs[0]},
            details={"errors": errs[:20]},
        )


def check_response(relpath: str, method: str, path: str, status: int, body: Any) -> None:
    errs = errors_for(relpath, response_pointer(relpath, method, path, status), body)
    if errs:
        raise InvalidResponse(
            _("La risposta della piattaforma non rispetta le specifiche: %(error)s") % {"error": errs[0]},
            details={"errors": errs[:20]},
        )
