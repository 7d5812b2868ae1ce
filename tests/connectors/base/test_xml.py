from __future__ import annotations

import pytest

from common.operations import PermanentError
from connectors.base.errors import MalformedXml, UnsafeXml, XmlSchemaInvalid
from connectors.base.specs import spec_path
from connectors.base.xml import load_schema, parse_xml, validate, validation_errors

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<foo>&xxe;</foo>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<lolz>&lol4;</lolz>"""


def test_well_formed_xml_parses():
    root = parse_xml(b"<a><b>uno</b></a>")
    assert root.findtext("b") == "uno"


def test_malformed_xml_is_refused_permanently():
    with pytest.raises(MalformedXml) as info:
        parse_xml(b"<a><b></a>")
    assert isinstance(info.value, PermanentError)


def test_xxe_is_refused():
    with pytest.raises(UnsafeXml):
        parse_xml(XXE)


def test_billion_laughs_is_refused():
    with pytest.raises(UnsafeXml):
        parse_xml(BILLION_LAUGHS)


def test_a_doctype_hidden_in_utf16_is_refused():
    with pytest.raises((UnsafeXml, MalformedXml)):
        parse_xml(XXE.replace(b'<?xml version="1.0"?>', b"").decode().encode("utf-16"))


def test_xsd_validation_reports_errors_and_caches_the_schema():
    xsd = spec_path("parer/schemas/versResp/WSResponseVersamento.xsd")
    assert load_schema(xsd) is load_schema(xsd)
    doc = parse_xml(b"<EsitoVersamento><Nonsense/></EsitoVersamento>")
    assert validation_errors(doc, xsd)
    with pytest.raises(XmlSchemaInvalid):
        validate(doc, xsd)


def test_schemas_with_internal_dtd_entities_compile():
    # segnatura imports W3C xmldsig, whose schema file declares internal entities.
    assert load_schema(spec_path("protocollo/schemas/segnatura_protocollo.xsd")) is not None
