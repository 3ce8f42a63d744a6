"""Preventive visits: entitlement, planning help, proposals, checklist, report, technical document
(the data layer the console, the demo and the visit activities share)."""
