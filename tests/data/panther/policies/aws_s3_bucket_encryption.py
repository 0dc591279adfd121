def policy(resource):
    return bool(resource.get("EncryptionRules"))
