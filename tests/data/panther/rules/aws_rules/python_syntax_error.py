def rule(event):
    return event.get("x") ==
