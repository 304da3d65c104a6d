"""The role-based CX console: web pages and their JSON API, served by ``cdp serve`` beside the profile API."""
