def rule(event):
    if event.get("eventName") != "ConsoleLogin":
        return False
    return looks_odd(event.get("sourceIPAddress"))


def looks_odd(address):
    return sum(int(part) for part in address.split(".")) % 7 == 3
