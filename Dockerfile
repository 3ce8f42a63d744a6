# One image for the three services; docker-compose.yml picks the command.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
# WeasyPrint (SLA and visit-report PDFs) draws text with Pango
RUN apt-get update && apt-get install -y --no-install-recommends \
      libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY messages messages
COPY base base
COPY workflows workflows
COPY activities activities
COPY records records
COPY models models
COPY parsers parsers
COPY domain domain
COPY console console
COPY intake intake
COPY vigie vigie
COPY documents documents
COPY planning planning
COPY contracts contracts
COPY worker.py ingest.py ./
RUN pip install --no-cache-dir .
USER nobody
CMD ["vigie", "--help"]
