"""The fake org's data: object schemas (what `describe` returns), records, ids and a clock.

Records hold Python values (str, int, float, bool, `datetime.date`, aware `datetime`, None)
under the schema's field names; the API layer turns them into Salesforce's JSON.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from ...salesforce._ids import id18

__all__ = ["Org", "Schema", "SfField", "standard_schemas"]

_BASE62: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True, slots=True)
class SfField:
    name: str
    type: str
    nillable: bool = True
    picklist: tuple[str, ...] = ()
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.name.removesuffix("__c").replace("_", " "),
            "type": self.type,
            "nillable": self.nillable,
            "filterable": self.type not in ("textarea", "address", "location"),
            "updateable": self.name not in ("Id", "CreatedDate", "LastModifiedDate"),
            "custom": self.name.endswith("__c"),
            "picklistValues": [
                {"active": True, "defaultValue": False, "label": v, "value": v}
                for v in self.picklist
            ],
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
        }


@dataclass
class Schema:
    """One object's fields, looked up without regard to case (as SOQL does)."""

    name: str
    key_prefix: str
    fields: dict[str, SfField] = field(default_factory=dict)  # lower-case name -> field

    def add(self, f: SfField) -> None:
        self.fields[f.name.lower()] = f

    def get(self, name: str) -> SfField | None:
        return self.fields.get(name.lower())

    def relationship(self, name: str) -> SfField | None:
        for f in self.fields.values():
            if f.relationship_name is not None and f.relationship_name.lower() == name.lower():
                return f
        return None

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.name,
            "keyPrefix": self.key_prefix,
            "queryable": True,
            "custom": False,
            "fields": [f.describe() for f in self.fields.values()],
        }


_LEAD_SOURCES: Final = ("Web", "Phone Inquiry", "Partner Referral", "Trade Show", "Other")
_RATINGS: Final = ("Hot", "Warm", "Cold")
_LEAD_STATUS: Final = ("Open - Not Contacted", "Working - Contacted", "Closed - Converted")
_INTERESTS: Final = ("Analytics", "Email", "SMS", "Push", "Journeys")
_MEMBER_STATUS: Final = ("Sent", "Responded")


def _common(schema: Schema) -> None:
    for f in (
        SfField("Id", "id", nillable=False),
        SfField("IsDeleted", "boolean", nillable=False),
        SfField("CreatedDate", "datetime", nillable=False),
        SfField("LastModifiedDate", "datetime", nillable=False),
        SfField("SystemModstamp", "datetime", nillable=False),
    ):
        schema.add(f)


def _person(schema: Schema) -> None:
    for f in (
        SfField("FirstName", "string"),
        SfField("LastName", "string", nillable=False),
        SfField("Email", "email"),
        SfField("Phone", "phone"),
        SfField("MobilePhone", "phone"),
        SfField("Title", "string"),
        SfField("LeadSource", "picklist", picklist=_LEAD_SOURCES),
        SfField("HasOptedOutOfEmail", "boolean", nillable=False),
        SfField("DoNotCall", "boolean", nillable=False),
        SfField("Description", "textarea"),
    ):
        schema.add(f)


def standard_schemas() -> dict[str, Schema]:
    """Lead, Contact, Campaign and CampaignMember with their usual standard fields and a
    few custom ones (`__c`) of the other describe types."""
    lead = Schema("Lead", "00Q")
    _common(lead)
    _person(lead)
    for f in (
        SfField("Company", "string", nillable=False),
        SfField("Status", "picklist", nillable=False, picklist=_LEAD_STATUS),
        SfField("Rating", "picklist", picklist=_RATINGS),
        SfField("Industry", "picklist", picklist=("Technology", "Retail", "Finance")),
        SfField("AnnualRevenue", "currency"),
        SfField("NumberOfEmployees", "int"),
        SfField("Website", "url"),
        SfField("Country", "string"),
        SfField("IsConverted", "boolean", nillable=False),
        SfField("ConvertedDate", "date"),
        SfField("Interests__c", "multipicklist", picklist=_INTERESTS),
        SfField("Score__c", "double"),
        SfField("Trial_End__c", "date"),
    ):
        lead.add(f)
    contact = Schema("Contact", "003")
    _common(contact)
    _person(contact)
    for f in (
        SfField("Department", "string"),
        SfField("Birthdate", "date"),
        SfField("MailingCountry", "string"),
        SfField("Lifetime_Value__c", "currency"),
        SfField("Tier__c", "picklist", picklist=("Gold", "Silver", "Bronze")),
        SfField("Interests__c", "multipicklist", picklist=_INTERESTS),
    ):
        contact.add(f)
    campaign = Schema("Campaign", "701")
    _common(campaign)
    for f in (
        SfField("Name", "string", nillable=False),
        SfField("Type", "picklist", picklist=("Email", "Webinar", "Conference")),
        SfField("Status", "picklist", picklist=("Planned", "In Progress", "Completed")),
        SfField("IsActive", "boolean", nillable=False),
        SfField("StartDate", "date"),
    ):
        campaign.add(f)
    member = Schema("CampaignMember", "00v")
    _common(member)
    for f in (
        SfField(
            "CampaignId",
            "reference",
            nillable=False,
            reference_to=("Campaign",),
            relationship_name="Campaign",
        ),
        SfField("LeadId", "reference", reference_to=("Lead",), relationship_name="Lead"),
        SfField("ContactId", "reference", reference_to=("Contact",), relationship_name="Contact"),
        SfField("Status", "picklist", picklist=_MEMBER_STATUS),
        SfField("HasResponded", "boolean", nillable=False),
        SfField("FirstRespondedDate", "date"),
        # Read-only copies of the lead's or contact's fields, as on the real object.
        SfField("FirstName", "string"),
        SfField("LastName", "string"),
        SfField("Email", "email"),
        SfField("Phone", "phone"),
    ):
        member.add(f)
    return {s.name: s for s in (lead, contact, campaign, member)}


_FIRST: Final = ("Ann", "Bob", "Chloé", "Dan", "Eve", "Fred", "Gus", "Hana", "Ivan", "June")
_LAST: Final = ("Lee", "Ng", "Smith", "Müller", "O'Brien", "Tanaka", "Rossi", "Kowalski")
_COMPANIES: Final = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne")


class Org:
    """Schemas, records and the org's clock (whole seconds, UTC; moves only when told)."""

    START: Final = dt.datetime(2026, 5, 1, 9, 0, 0, tzinfo=dt.UTC)

    def __init__(self, *, seed: int = 0) -> None:
        self.schemas = standard_schemas()
        self.records: dict[str, dict[str, dict[str, Any]]] = {n: {} for n in self.schemas}
        self.deleted: dict[str, dict[str, dict[str, Any]]] = {n: {} for n in self.schemas}
        self.now = self.START
        self._counter = 0
        # Two orgs never share record ids: the instance part of the id follows the seed.
        self._pod = _BASE62[seed % 62] + _BASE62[(seed // 62 + 5) % 62]
        self._rng = random.Random(seed)

    # ids and time

    def new_id(self, obj: str) -> str:
        self._counter += 1
        n, digits = self._counter, []
        for _ in range(10):
            n, r = divmod(n, 62)
            digits.append(_BASE62[r])
        return id18(self.schemas[obj].key_prefix + self._pod + "".join(reversed(digits)))

    def schema(self, obj: str) -> Schema:
        for name, schema in self.schemas.items():
            if name.lower() == obj.lower():
                return schema
        raise KeyError(obj)

    # writing

    def _stamp(self, at: dt.datetime | None) -> dt.datetime:
        moment = self.now if at is None else at
        if moment.tzinfo is None:
            raise ValueError("give aware datetimes (UTC) to the fake org")
        return moment.astimezone(dt.UTC).replace(microsecond=0)

    def _values(self, schema: Schema, values: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in values.items():
            f = schema.get(name)
            if f is None:
                raise KeyError(f"{schema.name} has no field {name!r}")
            out[f.name] = value
        return out

    def create(self, obj: str, values: Mapping[str, Any], *, at: dt.datetime | None = None) -> str:
        schema = self.schema(obj)
        stamp = self._stamp(at)
        record: dict[str, Any] = {}
        for f in schema.fields.values():
            record[f.name] = False if f.type == "boolean" else None
        record.update(self._values(schema, values))
        record["Id"] = self.new_id(schema.name)
        record["CreatedDate"] = record["LastModifiedDate"] = record["SystemModstamp"] = stamp
        self.records[schema.name][record["Id"]] = record
        return str(record["Id"])

    def update(
        self, obj: str, record_id: str, values: Mapping[str, Any], *, at: dt.datetime | None = None
    ) -> None:
        schema = self.schema(obj)
        record = self.records[schema.name][record_id]
        record.update(self._values(schema, values))
        stamp = self._stamp(at)
        record["LastModifiedDate"] = record["SystemModstamp"] = stamp

    def delete(self, obj: str, record_id: str) -> None:
        schema = self.schema(obj)
        record = self.records[schema.name].pop(record_id)
        record["IsDeleted"] = True
        record["SystemModstamp"] = self.now
        self.deleted[schema.name][record_id] = record

    # demo data

    def person(self, k: int) -> dict[str, Any]:
        rng = self._rng
        first = _FIRST[k % len(_FIRST)]
        last = _LAST[(k // len(_FIRST)) % len(_LAST)]
        return {
            "FirstName": first,
            "LastName": last,
            "Email": f"{first.lower().replace('é', 'e')}.{k}@example.com",
            "Phone": f"+1415555{k % 10_000:04d}",
            "LeadSource": _LEAD_SOURCES[k % len(_LEAD_SOURCES)],
            "HasOptedOutOfEmail": rng.random() < 0.05,
            "Title": rng.choice(("CTO", "Marketing Lead", "Analyst", None)),
        }

    def add_people(
        self, obj: str, n: int, common: Mapping[str, Any], *, at: dt.datetime | None = None
    ) -> list[str]:
        rng = self._rng
        ids: list[str] = []
        start = sum(len(r) for r in self.records.values())
        for k in range(start, start + n):
            values = self.person(k)
            if obj == "Lead":
                values.update(
                    Company=_COMPANIES[k % len(_COMPANIES)],
                    Status=_LEAD_STATUS[k % 2],
                    Rating=rng.choice((*_RATINGS, None)),
                    AnnualRevenue=float(rng.randrange(0, 5_000_000, 1000)),
                    NumberOfEmployees=rng.randrange(1, 5000),
                    Interests__c=";".join(rng.sample(_INTERESTS, rng.randrange(0, 3))) or None,
                )
            elif obj == "Contact":
                values.update(
                    Department=rng.choice(("Sales", "IT", None)),
                    Tier__c=rng.choice(("Gold", "Silver", "Bronze")),
                    Lifetime_Value__c=float(rng.randrange(0, 100_000)),
                )
            values.update(common)
            ids.append(self.create(obj, values, at=at))
        return ids

    def add_members(
        self,
        campaign_id: str,
        *,
        leads: Iterable[str] = (),
        contacts: Iterable[str] = (),
        at: dt.datetime | None = None,
    ) -> list[str]:
        ids: list[str] = []
        for parent_obj, key, parents in (
            ("Lead", "LeadId", leads),
            ("Contact", "ContactId", contacts),
        ):
            for parent_id in parents:
                parent = self.records[parent_obj][parent_id]
                values = {
                    "CampaignId": campaign_id,
                    key: parent_id,
                    "Status": "Sent",
                    "FirstName": parent["FirstName"],
                    "LastName": parent["LastName"],
                    "Email": parent["Email"],
                    "Phone": parent["Phone"],
                }
                ids.append(self.create("CampaignMember", values, at=at))
        return ids
