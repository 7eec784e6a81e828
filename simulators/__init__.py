"""Stand-ins for the outside systems govlink talks to, speaking their real wire formats.

One module per outside system; `simulators.server` mounts them all under path prefixes on one
port (`python -m simulators`, or `run_in_thread()` in tests).
"""
