"""The `praevnet` command line: thin click commands over node/."""
