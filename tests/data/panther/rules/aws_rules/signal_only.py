def title(event):
    return "no rule() here"
