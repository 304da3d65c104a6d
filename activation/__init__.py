"""Activation: audiences to destinations, only with consent, within frequency caps, every decision audited."""
