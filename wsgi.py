"""The WSGI entry point: `gunicorn wsgi:app`."""

from glossary import create_app

app = create_app()
