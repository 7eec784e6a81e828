"""`python -m simulators [--bind HOST:PORT]`: serve every simulator on one port (default GOVLINK_SIMULATORS_BIND)."""
from simulators.server import main

main()
