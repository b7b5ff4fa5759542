"""Routes of the web app: HTML pages and the JSON API. Each route parses, calls, renders."""
