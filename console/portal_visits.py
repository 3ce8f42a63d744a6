"""What a client user sees of their visits in the portal, scoped to their own company: the
visits, the reports once sent, the dates to choose (the same signed links as the mail), and
the current technical document."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from console.deps import Services
from console.i18n import N_, gettext
from console.i18n_visits import date_label
from console.pages_visits import state_name
from messages.visits import VisitState
from models.visits import Visit, VisitReport
from planning import techdoc
from planning.links import answer_url, link_secret, sign_answer
from planning.notify import visit_ref


def documents_context(svc: Services, client_id: int | None, lang: str = "fr"
                      ) -> dict[str, Any]:
    if client_id is None:
        return {"visits": [], "reports": set(), "proposals": [], "doc": None,
                "sections": techdoc.SECTIONS, "ref": visit_ref, "state_name": state_name}
    secret = link_secret(svc.settings)
    with Session(svc.engine) as s:
        visits = list(s.exec(select(Visit).where(Visit.client_id == client_id)
                             .order_by(col(Visit.due_start).desc())).all())
        sent = {v.id for v in visits if v.state == VisitState.REPORT_SENT}
        reports = set(s.exec(select(VisitReport.visit_id).where(
            col(VisitReport.visit_id).in_(list(sent) or [-1]))).all())
        proposals = []
        for v in visits:
            if v.state == VisitState.AWAITING_CLIENT and v.answer_deadline is not None:
                links = [(date_label(lang, d), answer_url("", sign_answer(
                    secret, v.id or 0, v.proposal, d, v.answer_deadline)))
                    for d in v.proposed_dates]
                none = gettext(lang, N_("aucune ne convient"))
                links.append((none, answer_url("", sign_answer(
                    secret, v.id or 0, v.proposal, None, v.answer_deadline))))
                proposals.append((v, links))
        doc = techdoc.latest(s, client_id)
    return {"visits": visits, "reports": reports, "proposals": proposals, "doc": doc,
            "sections": techdoc.SECTIONS, "ref": visit_ref, "state_name": state_name}
