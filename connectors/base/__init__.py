"""Shared plumbing for every platform connector.

- `http.HttpClient`: timeouts, size limits, content-type checks, 5xx/429/network -> RetryableError,
  other 4xx -> PlatformRefused (permanent, platform code kept, RFC 7807 parsed), masked exchange log
  (`observe_exchanges` is the hook `connector_call` uses).
- `xml`: `parse_xml` refuses any DOCTYPE (XXE, billion laughs); `validate(doc, xsd)` with cached schemas.
- `specs`: where the official XSD/OpenAPI files live (shipped in each platform package, never read
  from outside the project); `openapi`: jsonschema validation of bodies against them.
- `simulator`: `SimulatorServer` (threaded, loopback) and `SimulatorApp` (routing, recorded requests,
  fault switches). Each `connectors/<platform>/simulator.py` exposes `create_app()`.
- `config`: the one settings path. `platform_config(platform, tenant)` resolves a `PlatformConfig`
  (base URL: setting > tenant ConnectorConfig > demo simulator port; credentials; timeouts) and every
  client is built by `<Client>.from_config(tenant | PlatformConfig)`.
- `idempotency.OperationResultStore`: where `@operation(..., remember=True)` keeps a completed
  operation's result per idempotency key.

A new platform starts as a copy of `connectors/appio/` (client with `from_config`, simulator, operations
declared with `@operation(name, description=..., remember=...)`, shipped `openapi/` or `schemas/` with
their README, tests). A table only that platform uses goes in its own `models.py`, imported by
`connectors/models.py`.
"""
