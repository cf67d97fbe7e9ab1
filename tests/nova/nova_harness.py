"""A real Nova (34.0.0) on 127.0.0.1, from Nova's own functional-test fixtures.

Run with the Nova virtualenv's python (never imported by the test suite):

    /var/cache/automigrate/nova-venv/bin/python tests/nova/nova_harness.py [--port 0] [--computes 2]
        [--token SECRET] [--servers N]

It sets up what Nova's functional tests set up (nova.test.TestCase and
integrated_helpers.ProviderUsageBaseTestCase): the API database and a cell,
placement, conductor, scheduler and N nova-compute services named host1..hostN
running ``nova.virt.fake.FakeLiveMigrateDriver`` (a live migration takes about
5 s and can be aborted), with Nova's Glance/Neutron/Cinder fixtures. RPC is
the in-process fake transport, casts stay casts, so os-migrateLive answers 202
and the migration runs on its own, as in a real cloud.

Instead of the fixtures' wsgi-intercept, the real osapi_compute WSGI app (the
same paste pipeline) is served over HTTP on 127.0.0.1:PORT by wsgiref. Nova 34
has only the keystone auth strategy; the fixtures stub keystonemiddleware, so
this harness plays keystonemiddleware's part: a request must carry
``X-Auth-Token: <token>`` (else 401), and is then an admin of project
``admin``. openstacksdk reaches it with ``auth_type: admin_token``.

Prints one JSON line ``{"ready": true, "url": ..., "token": ..., "hosts": [...]}``
on stdout once it serves, then runs until stdin closes or SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

IMAGE = "155d900f-4e14-4e4c-a73d-069cbf4541e6"  # GlanceFixture's default image


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):  # Nova's request_log already logs each request
        pass


def keystone_stand_in(app, token: str):
    """What keystonemiddleware + NovaKeystoneContext would leave in the environ for an admin."""

    def middleware(environ, start_response):
        if environ.get("HTTP_X_AUTH_TOKEN") != token and environ.get("PATH_INFO", "/") not in ("/", ""):
            body = json.dumps({"error": {"code": 401, "title": "Unauthorized",
                                         "message": "The request you have made requires authentication."}}).encode()
            start_response("401 Unauthorized",
                           [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        environ["HTTP_X_AUTH_USER"] = "admin"
        environ["HTTP_X_AUTH_PROJECT_ID"] = "admin"
        environ["HTTP_X_ROLES"] = "reader,member,admin"
        return app(environ, start_response)

    return middleware


def _paste_config_from_venv() -> None:
    """Nova's test config looks for api-paste.ini next to the source tree; pip puts it in the venv."""
    from nova.tests.fixtures import conf as conf_fixture

    paste = os.path.join(sys.prefix, "etc", "nova", "api-paste.ini")
    original = conf_fixture.ConfFixture.setUp

    def setUp(self):
        original(self)
        self.conf.set_default("api_paste_config", paste, group="wsgi")

    conf_fixture.ConfFixture.setUp = setUp


def build_case(args):
    from nova.tests.functional import integrated_helpers

    _paste_config_from_venv()

    class NovaHarness(integrated_helpers.ProviderUsageBaseTestCase):
        compute_driver = "fake.FakeLiveMigrateDriver"

        def test_serve(self):
            for i in range(1, args.computes + 1):
                self._start_compute(host=f"host{i}")
            app = keystone_stand_in(self.api_fixture.app(), args.token)
            server = make_server("127.0.0.1", args.port, app, server_class=_ThreadingServer,
                                 handler_class=_QuietHandler)
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            url = f"http://127.0.0.1:{server.server_address[1]}"
            if args.servers:
                self._boot_demo(args.servers, args.computes)
            print(json.dumps({"ready": True, "url": url, "compute": url + "/v2.1", "token": args.token,
                              "hosts": [f"host{i}" for i in range(1, args.computes + 1)]}), flush=True)
            _wait_for_stop()
            server.shutdown()

        def _boot_demo(self, count, computes):
            # The fake hosts have 1000 vCPUs: a 200-vCPU flavor makes a busy server matter, and
            # the project's quota must not stand in the way.
            for project in ("admin", self.admin_api.project_id):  # HTTP clients' project, the fixtures' own
                self.admin_api.api_put(f"/os-quota-sets/{project}",
                                       {"quota_set": {"cores": -1, "ram": -1, "instances": -1}})
            self.admin_api.api_post("/flavors", {"flavor": {"name": "am.big", "id": "am-big", "vcpus": 200,
                                                            "ram": 2048, "disk": 1}})
            for i in range(count):
                host = f"host{1 + i % computes}"
                self._create_server(name=f"demo-{i + 1}", flavor_id="am-big", networks="none",
                                    az=f"nova:{host}")

    return NovaHarness("test_serve")


def _wait_for_stop():
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def watch_stdin():
        try:
            while sys.stdin.readline():
                pass
        finally:
            stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    while not stop.is_set():
        time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    parser.add_argument("--computes", type=int, default=2)
    parser.add_argument("--servers", type=int, default=0, help="demo servers to boot, spread over the hosts")
    parser.add_argument("--token", default=os.environ.get("NOVA_HARNESS_TOKEN", "automigrate-test-token"))
    args = parser.parse_args()
    # Nova 34's native threading mode (eventlet is deprecated and would make stdin/wsgiref block).
    os.environ["OS_NOVA_DISABLE_EVENTLET_PATCHING"] = "1"
    sys.argv = sys.argv[:1]  # oslo.config must not see our options
    import unittest

    result = unittest.TestResult()
    build_case(args).run(result)
    for _, trace in result.errors + result.failures:
        print(json.dumps({"ready": False, "error": trace.strip().splitlines()[-1]}), flush=True)
        sys.stderr.write(trace)
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
