"""HTTP: blueprints for the JSON API, media files, pages and API docs."""
