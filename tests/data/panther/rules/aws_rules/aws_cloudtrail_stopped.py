from panther_aws_helpers import aws_rule_context

STOP_EVENTS = {"DeleteTrail", "StopLogging"}


def rule(event):
    return event.get("eventName") in STOP_EVENTS


def title(event):
    return f"CloudTrail [{event.get('requestParameters', {}).get('name')}] was stopped"


def alert_context(event):
    return aws_rule_context(event)
