"""A fake Salesforce REST API (SOQL with paging, describe, limits, faults) for the tests,
notebooks and benchmarks of the Salesforce integration; the real simple-salesforce talks
to it in process or over HTTPS on 127.0.0.1.

    from spotzee_frames.sandbox.salesforce import FakeSalesforce

    fake = FakeSalesforce()
    fake.add_leads(2500, LeadSource="Web")
    sf = fake.connect()                     # a simple_salesforce.Salesforce, in process
    with fake.serve() as served:            # or over HTTPS with a throwaway certificate
        sf = served.connect()
"""

from __future__ import annotations

from ._api import FAULT_KINDS, RequestLog
from ._fake import FakeSalesforce, ServedSalesforce

__all__ = ["FAULT_KINDS", "FakeSalesforce", "RequestLog", "ServedSalesforce"]
