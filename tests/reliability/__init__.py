"""Reliability: bad inputs, real faults and fuzzed files never give a foreign exception, a silent wrong answer,
a hang or a damaged file (issue 13)."""
