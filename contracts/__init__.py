"""Contract lifecycle data layer (checklist, onboarding, notice) and personal data."""
