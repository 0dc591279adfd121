"""The web layer: rule pages and the home page (render), their URLs (urls), YAML highlighting (highlight),
and the read-only server with the JSON API (serve). It reads page documents; it never parses rules."""
