"""The states of a citizen's request on the ANPR portal (P000), in one table.

P003 sends a request's new state (ANPR table 58, "stato della richiesta") and, for an inadmissible
request, its reason (table 60). Neither table is in ANPR's public material nor in the specifications
(see processes/anpr_citizen_request/README.md): the codes below are placeholders to be replaced with
ANPR's own before production. Procedures name a state by its meaning (`anpr.p003_update` with
`state`); only this table knows the codes.
"""

from __future__ import annotations

STATES: dict[str, str] = {
    "taken_in_charge": "3",  # the office took the request in charge
    "inadmissible": "4",  # refused as inadmissible (with a reason of table 60)
    "concluded_favourably": "5",  # the procedure it opened ended favourably
    "concluded_unfavourably": "6",  # the procedure it opened ended unfavourably
}


def state_code(name: str) -> str | None:
    """The ANPR code of a state named by its meaning, or None for an unknown name."""
    return STATES.get(name)
