import json

from forms.validation import validate_data

SCHEMA = json.dumps({
    "type": "object",
    "required": ["outcome", "people"],
    "additionalProperties": False,
    "properties": {
        "outcome": {"type": "string", "enum": ["positive", "negative"]},
        "visit_date": {"type": "string", "format": "date"},
        "people": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["fiscal_code"],
            "properties": {"fiscal_code": {"type": "string", "pattern": "^[A-Z0-9]{16}$"}}}},
    },
})


def test_valid_data_has_no_errors():
    assert validate_data(SCHEMA, {"outcome": "positive", "people": [{"fiscal_code": "RSSMRA80A01H501U"}]}) == {}


def test_each_error_is_reported_in_italian_under_its_field_path():
    errors = validate_data(SCHEMA, {"outcome": "maybe", "visit_date": "31/02/2026", "extra": 1, "people": [{}]})
    assert errors["outcome"] == ["Valore non ammesso: scegli tra positive, negative."]
    assert errors["visit_date"] == ["Data non valida: usa il formato AAAA-MM-GG."]
    assert errors["extra"] == ["Campo non previsto."]
    assert errors["people.0.fiscal_code"] == ["Campo obbligatorio."]


def test_fiscal_code_checksum_is_checked():
    errors = validate_data(SCHEMA, {"outcome": "positive", "people": [{"fiscal_code": "RSSMRA80A01H501X"}]})
    assert "controllo" in errors["people.0.fiscal_code"][0]


def test_non_object_data_is_refused():
    assert validate_data(SCHEMA, ["x"]) == {"__all__": ["I dati devono essere un oggetto JSON."]}
