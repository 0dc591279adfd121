def aws_rule_context(event):
    return {}
