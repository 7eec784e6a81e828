"""`python -m simulators.channels [--bind HOST:PORT]`: serve the channel stand-ins (default from GOVLINK_CHANNELS_URL)."""
import argparse
from urllib.parse import urlsplit

from werkzeug.serving import run_simple

from config.realm import channels_url
from config.settings import Settings
from simulators.channels import create_app

default = urlsplit(channels_url())
parser = argparse.ArgumentParser(prog="python -m simulators.channels")
parser.add_argument("--bind", default=f"{default.hostname}:{default.port or 80}")
host, _, port = parser.parse_args().bind.rpartition(":")
run_simple(host, int(port), create_app(Settings.from_env()), threaded=True)
