"""The shared kernel: what every area uses (identifiers, the clock, money, the HTTP session factory, CodedError).

It imports nothing from govlink.
"""
