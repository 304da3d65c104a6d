"""Shared core of the customer data platform: configuration, lake layout, Spark sessions and the CLI."""
