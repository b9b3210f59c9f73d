"""The Marstek multi-battery strategy integration."""
