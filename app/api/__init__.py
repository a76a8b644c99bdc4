"""The REST API: the app factory (application.py), routes, schemas, dependencies,
uploads, the ingest worker, health, auth and the error shape."""
