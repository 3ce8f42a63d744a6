"""Prints the README's settings table from ``base.settings.Settings`` (paste it in)."""

from base.settings import ROOT, Settings


def env_name(name: str, field) -> str:
    return field.validation_alias or f"VIGIE_{name.upper()}"


print("| variable | default | meaning |")
print("|---|---|---|")
for name, field in Settings.model_fields.items():
    default = field.default
    if hasattr(default, "relative_to"):
        default = f"{default.relative_to(ROOT)}/" if str(default).startswith(str(ROOT)) else default
    print(f"| `{env_name(name, field)}` | `{default}` | {field.description} |")
