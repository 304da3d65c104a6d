"""Synthetic landing-zone data for the CDP: messy multi-source customer data with a known truth.

``generate(out_dir, customers, seed)`` writes eight sources (events, CRM contacts, orders, POS,
support tickets, surveys, consent, messages) in part files plus ``_ground_truth/``.
"""

from .generate import GenerationSummary, generate, generated_period_end

__all__ = ["GenerationSummary", "generate", "generated_period_end"]
