"""Printable documents: an HTML template and its context turned into PDF bytes (WeasyPrint).

The console's SLA export prints the very template the SLA page shows; the visit reports
will print theirs through the same function.
"""

from documents.pdf import PRINT_CSS, html_to_pdf, template_to_pdf

__all__ = ["PRINT_CSS", "html_to_pdf", "template_to_pdf"]
