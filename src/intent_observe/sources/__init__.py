"""Where events come from: the file tail and its parts, the GitHub mapping, synthetic histories."""
