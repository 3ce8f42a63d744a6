"""Inhibition rules, as an administrator writes them: while a cause is open, the alerts it
explains are recorded, muted under it and shown with the rule; the rule ends at its expiry
(or when revoked), every change is audited, and the console refuses a bad rule in words."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from contracts.forget import erase_client_rows
from models.db import session_scope
from models.incidents import IncidentChild, InhibitionAudit, InhibitionRule
from models.tables import Case
from models.types import utcnow
from records.inhibitions import (
    INHIBITED,
    RuleRequest,
    create_rule,
    edit_rule,
    revoke_rule,
)
from tests.browser.support import Desk, make_desk
from tests.test_absence_support import (
    Inventory,
    case_row,
    events,
    ingest,
    make_inventory,
    probe,
)


def raid_case(engine: Engine, inv: Inventory, server_id: int) -> int:
    """The cause: an open hardware case (the SAN's RAID) of the client."""
    return case_row(engine, ref=f"VIG-{server_id:06d}", workflow_id=f"case-raid-{inv.code}",
                    fingerprint=f"{inv.code}|san|hardware|raid|", client_id=inv.client_id,
                    server_id=server_id or None, host="san", family="hardware", check="raid",
                    opened_at=utcnow())


def rule(engine: Engine, **changes: object) -> int:
    req = RuleRequest(name="SAN en panne : pas de page CPU", created_by="admin",
                      expires_at=utcnow() + timedelta(hours=4), source_family="hardware",
                      source_check="raid", target_check="cpu")
    return create_rule(engine, RuleRequest(**{**req.__dict__, **changes})).id or 0


def test_a_rule_mutes_the_target_under_its_open_cause_until_it_expires(engine: Engine) -> None:
    inv, other = make_inventory(engine), make_inventory(engine)
    cause = raid_case(engine, inv, inv.srv_a)
    rule_id = rule(engine)

    assert ingest(engine, probe(inv, "SRV-A2", "cpu", "PROBLEM")) == []  # no case opened
    muted = events(engine)[-1]
    assert muted.triage == INHIBITED and muted.case_id == cause
    assert muted.extra["inhibited_by"] == rule_id
    assert muted.extra["inhibition"] == "SAN en panne : pas de page CPU"
    # another check of the same client, or the same check at another client: untouched
    routes = ingest(engine, probe(inv, "SRV-A2", "disk_free", "PROBLEM", target="C:"),
                    probe(other, "SRV-A", "cpu", "PROBLEM"))
    assert len(routes) == 2 and all(r.start is not None for r in routes)

    edit_rule(engine, rule_id, "admin2", expires_at=utcnow())  # it expires now
    (route,) = ingest(engine, probe(inv, "SRV-B", "cpu", "PROBLEM"))
    assert route.start is not None  # pages again
    with Session(engine) as s:
        audit = s.exec(select(InhibitionAudit).where(InhibitionAudit.rule_id == rule_id)
                       .order_by(InhibitionAudit.id)).all()  # type: ignore[arg-type]
    assert [(a.action, a.actor) for a in audit] == [("create", "admin"), ("edit", "admin2")]
    assert audit[1].detail["before"]["expires_at"] != audit[1].detail["after"]["expires_at"]


def test_a_revoked_rule_or_a_closed_cause_mutes_nothing(engine: Engine) -> None:
    inv = make_inventory(engine)
    cause = raid_case(engine, inv, inv.srv_a)
    rule_id = rule(engine)
    with session_scope(engine) as s:
        c = s.get(Case, cause)
        assert c is not None
        c.state, c.closed = "closed", True
        s.add(c)
    assert len(ingest(engine, probe(inv, "SRV-A2", "cpu", "PROBLEM"))) == 1
    revoke_rule(engine, rule_id, "admin")
    revoke_rule(engine, rule_id, "admin")  # twice: one audit line
    with Session(engine) as s:
        lines = s.exec(select(InhibitionAudit).where(InhibitionAudit.rule_id == rule_id)).all()
    assert [a.action for a in lines] == ["create", "revoke"]


def test_a_site_scoped_rule_mutes_only_the_causes_site(engine: Engine) -> None:
    inv = make_inventory(engine)
    raid_case(engine, inv, inv.srv_b)  # Annecy's SAN
    rule(engine, equal="site")
    assert len(ingest(engine, probe(inv, "SRV-A", "cpu", "PROBLEM"))) == 1  # Lyon pages
    assert ingest(engine, probe(inv, "SRV-B", "cpu", "PROBLEM")) == []  # Annecy: muted


def test_a_bad_rule_is_refused_in_words(engine: Engine) -> None:
    with pytest.raises(ValueError, match="futur"):
        rule(engine, expires_at=utcnow() - timedelta(minutes=1))
    with pytest.raises(ValueError, match="cible"):
        rule(engine, target_check="")
    with pytest.raises(ValueError, match="Portée"):
        rule(engine, equal="planet")


@pytest.fixture
def desk(engine: Engine, tmp_path: Path) -> Desk:
    return make_desk(engine, tmp_path)


def test_the_admin_page_edits_rules_and_the_muted_alert_says_why(desk: Desk) -> None:
    http, csrf = desk.signed_in("admin")
    form = {"csrf_token": csrf, "name": "Sauvegardes pendant la panne du NAS",
            "source_family": "hardware", "target_family": "backup", "equal": "client",
            "expires": "2099-01-01T08:00"}
    assert http.post("/admin/inhibitions", data=form).status_code == 303
    page = http.get("/admin/inhibitions").text
    assert "Sauvegardes pendant la panne du NAS" in page and "en vigueur" in page
    bad = http.post("/admin/inhibitions", data={**form, "expires": "2001-01-01T08:00"})
    assert bad.status_code == 303
    assert "dans le futur" in http.get("/admin/inhibitions").text
    junk = http.post("/admin/inhibitions", data={**form, "expires": "demain"})
    assert junk.status_code == 303
    rule_id = int(page.split('data-rule="')[1].split('"')[0])
    assert http.post(f"/admin/inhibitions/{rule_id}/revoke",
                     data={"csrf_token": csrf}).status_code == 303
    assert "révoquée" in http.get("/admin/inhibitions").text
    assert "Inhibition rules" in http.get("/admin/inhibitions?lang=en").text
    tech, tcsrf = desk.signed_in("technician")
    assert tech.post("/admin/inhibitions", data={**form, "csrf_token": tcsrf}
                     ).status_code == 403

    # a muted alert, as the router leaves it, says which rule and which cause
    a = desk.clients["client-a"]
    inv = Inventory(a, "client-a", 0, 0, 0, 0, 0)
    cause = raid_case(desk.engine, inv, 0)
    create_rule(desk.engine, RuleRequest(name="CPU pendant la panne du SAN", created_by="admin",
                                         expires_at=utcnow() + timedelta(hours=1),
                                         source_family="hardware", target_check="cpu"))
    assert ingest(desk.engine, probe(inv, "SRV-DC01", "cpu", "PROBLEM")) == []
    muted = events(desk.engine)[-1]
    assert muted.triage == INHIBITED and muted.case_id == cause
    shown = tech.get(f"/events/{muted.id}").text
    assert "inhibée par la règle" in shown and "CPU pendant la panne du SAN" in shown
    assert f"VIG-{0:06d}" in shown


def test_an_erased_client_leaves_no_words_in_its_rules_or_an_outages_children(
        engine: Engine) -> None:
    inv = make_inventory(engine)
    cause = raid_case(engine, inv, inv.srv_a)
    rule_id = rule(engine, client_code=inv.code, name="Panne du SAN chez Mme Durand")
    with session_scope(engine) as s:
        s.add(IncidentChild(incident_case_id=cause, fingerprint="fp", client_id=inv.client_id,
                            title="PC-DURAND — sauvegarde absente"))
    with session_scope(engine) as s:
        erase_client_rows(s, inv.client_id)
    with Session(engine) as s:
        kept = s.get(InhibitionRule, rule_id)
        assert kept is not None and "Durand" not in kept.name
        assert all("Durand" not in str(a.detail) for a in s.exec(select(InhibitionAudit)))
        assert all("DURAND" not in c.title for c in s.exec(select(IncidentChild)))
