"""Email: the message attributes Sublime's MQL rules read, as one provider of a "seen" platform.

Sublime rules run on its message data model (MDM), not on a log: there is no event type to name, only the
attributes a rule compares (`sender.email.domain.root_domain`, `attachments[].file_extension`,
`ml.nlu_classifier(body.current_thread.text).intents[].name`). The provider "Sublime message" lists each
attribute path a rule compares positively as one of its entries, so its page counts the rules per attribute,
as a CloudTrail page counts them per eventName. No package defines the MDM, so the platform is SEEN: what it
holds is what the rules read (paths as the Sublime reader flattens them: `[]` for an array's elements).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ruleatlas.model import EMAIL_PRODUCT, Problem
from ruleatlas.telemetry.catalog import PLATFORM_KIND, SEEN, PlatformDef, ProviderDef, TelemetryCatalog

if TYPE_CHECKING:
    from ruleatlas.telemetry.platforms.actions import ActionSource, Resolution, Values

KEY = "email"
PRODUCT = EMAIL_PRODUCT  # the Sigma-style product the Sublime reader derives for every rule
PROVIDER = "Sublime message"
ACTION = "message attribute"


def load_email(problems: list[Problem]) -> tuple[PlatformDef, list[ProviderDef]]:
    """The email platform and its one provider, with no entries until rules name attributes."""
    del problems  # nothing is read, so nothing can go wrong
    platform = PlatformDef(
        key=KEY,
        label="Email",
        status=SEEN,
        source="the message attributes Sublime rules read",
        action=ACTION,
        description="Email messages as Sublime's message data model describes them; each entry is an "
        "attribute path rules compare (arrays flattened as `[]`).",
    )
    provider = ProviderDef(
        name=PROVIDER,
        label="Sublime message",
        kind=PLATFORM_KIND,
        platform=KEY,
        description="The attributes of a message (sender, recipients, headers, body, attachments, links, "
        "and the sensors' results) that Sublime MQL rules read.",
    )
    return platform, [provider]


def resolve_email(
    source: ActionSource, telemetry: TelemetryCatalog, values: Values, resolution: Resolution
) -> None:
    """Every attribute the rule compares positively is an entry of the provider."""
    provider = telemetry.provider(source.provider)
    if provider is None:
        resolution.notes.append(f"No telemetry provider {source.provider}.")
        return
    for path in values:
        resolution.named_action = True
        resolution.add(provider.name, path)
