"""Start `phoenix serve` with its OTLP gRPC receiver bound to 127.0.0.1 instead of all interfaces.

Phoenix hard-codes the gRPC bind address to `[::]:PORT` (phoenix/server/grpc_server.py) and ignores
PHOENIX_HOST, which only applies to the HTTP server. Tests must listen on loopback only, so this patches
grpc.aio's Server.add_*_port before Phoenix is imported. Configure everything else through PHOENIX_* env
vars (PHOENIX_HOST, PHOENIX_PORT, PHOENIX_GRPC_PORT, PHOENIX_WORKING_DIR, ...).
"""
import sys

import grpc.aio._server as _server

for _name in ("add_insecure_port", "add_secure_port"):
    _orig = getattr(_server.Server, _name)

    def _patched(self, address, *args, _orig=_orig, **kwargs):
        return _orig(self, address.replace("[::]", "127.0.0.1"), *args, **kwargs)

    setattr(_server.Server, _name, _patched)

from phoenix.server.main import main  # noqa: E402  (must come after the patch)

sys.argv = ["phoenix", "serve"]
sys.exit(main())
