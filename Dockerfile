# The image for web, worker and beat (see docker-compose.yml).
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends bird2 openssh-client curl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN useradd --system --home /app fabric \
 && FABRIC_VAR_DIR=/tmp/build SECRET_KEY=build-only \
    FIELD_ENCRYPTION_KEY="$(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
    python manage.py collectstatic --no-input -v 0 \
 && mkdir -p /app/var && chown -R fabric /app/var
USER fabric
EXPOSE 8000
CMD ["gunicorn", "fabric_portal.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4"]
