"""A reader module that cannot be imported: the build must report it and go on."""

raise RuntimeError("this reader is broken on purpose")
