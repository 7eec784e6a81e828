# The govlink image: gateway, workers and scheduler share it (the command differs). The simulators
# (stand-ins for outside systems) are for development and tests only and are not in the image.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 GOVLINK_LOG_JSON=true
WORKDIR /app
COPY pyproject.toml requirements.lock README.md ./
COPY config ./config
COPY idp ./idp
COPY bus ./bus
COPY connectors ./connectors
COPY payment_bridge ./payment_bridge
COPY logistics_bridge ./logistics_bridge
COPY reconciliation ./reconciliation
COPY store ./store
COPY routes ./routes
COPY supervision ./supervision
# Only the runtime dependencies, at the versions of the lock (no test, simulator or dev extras).
RUN pip install --no-cache-dir -c requirements.lock . && useradd --system --uid 10001 govlink \
    && install -d -o govlink /var/lib/govlink/message-log-spool
USER govlink
EXPOSE 8000
CMD ["gunicorn", "-c", "config/gunicorn.py", "--bind", "0.0.0.0:8000", "bootstrap.wsgi:app"]
