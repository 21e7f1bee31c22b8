"""A real RTSP server for tests and benchmarks: GStreamer's gst-rtsp-server on 127.0.0.1.

Run it with Debian's own interpreter (GStreamer's Python bindings do not import elsewhere):

    /usr/bin/python3 tests/rtsp_server.py CLIP.264 [--port N] [--fps 10] [--mounts cam,cam2] [--user U --password P]

CLIP.264 is a raw H.264 byte stream (see ``write_annexb_clip`` in tests/streams_helpers.py). Each mount
is a shared, looping media factory that re-encodes with x264 (so timestamps and keyframes are regular).
Prints ``READY <port>`` once it listens; stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("clip")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--fps", type=int, default=10)
    parser.add_argument("--mounts", default="cam")
    parser.add_argument("--user", default="")
    parser.add_argument("--password", default="")
    parser.add_argument("--keyint", type=int, default=10)
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    launch = (
        f'( multifilesrc location="{args.clip}" loop=true '
        f'caps="video/x-h264,stream-format=byte-stream,framerate={args.fps}/1" ! h264parse ! avdec_h264 ! '
        f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={args.keyint} bframes=0 ! "
        "rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
    mounts = server.get_mount_points()
    for name in args.mounts.split(","):
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch)
        factory.set_shared(True)
        if args.user:
            permissions = GstRtspServer.RTSPPermissions()
            permissions.add_permission_for_role("user", "media.factory.access", True)
            permissions.add_permission_for_role("user", "media.factory.construct", True)
            factory.set_permissions(permissions)
        mounts.add_factory(f"/{name}", factory)
    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "user")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        server.set_auth(auth)
    if server.attach(None) == 0:
        print("FAILED to bind", flush=True)
        sys.exit(1)
    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, loop.quit)
    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
