"""Who may speak for a client: the sources whose alerts may change a case's state.

Anyone can write to the desk's mailbox and put any ``From:`` on a mail, so a message only
*claims* to come from a client. A client's trust rules say what proves it (issue 11, contract
3.1's fixed IP): the addresses its mail comes from (``ip``), relays that forward its mail
(``relay``, together with the envelope senders allowed through them), envelope senders
(``sender``), and domains whose DKIM signature (``dkim``) or SPF record (``spf``) vouches for
it. ``Client.fixed_ips`` counts as ``ip`` rules. The router judges each message against them
(``records/sources.py``) and records the verdict on every event.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utcnow

RULE_KINDS = ("ip", "relay", "sender", "dkim", "spf")


class SourceRule(SQLModel, table=True):
    """One thing that may speak for a client (edited on the client's administration page)."""

    __tablename__ = "source_rule"
    __table_args__ = (UniqueConstraint("client_id", "kind", "value"),)
    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    kind: str = Field(max_length=10)  # one of RULE_KINDS
    # ip/relay: an address or network (CIDR); sender: an address or @domain; dkim/spf: a domain
    value: str = Field(max_length=255)
    note: str = Field(default="", max_length=300)
    created_by: str = Field(default="", max_length=120)
    created_at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)
