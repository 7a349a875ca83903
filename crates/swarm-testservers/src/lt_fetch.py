# A libtorrent (PyPI) downloader for the seeding tests and bench/seed.sh: downloads one torrent
# (a .torrent file or a magnet) into DIR, bound to one loopback address, DHT, LSD, UPnP,
# NAT-PMP, uTP and PEX off; dials PEER (ip:port, or "-" for none: trackers only) at once.
# Prints one JSON line when done: {"seconds": ..., "bytes": ..., "info_hash": ...}; exits 1
# after TIMEOUT seconds without completing.
#   python lt_fetch.py IP SOURCE DIR PEER TIMEOUT
import json
import sys
import time

import libtorrent as lt

ip, source, save, peer, timeout = sys.argv[1:6]
settings = {
    "listen_interfaces": f"{ip}:0",
    "outgoing_interfaces": ip,
    "enable_dht": False,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "enable_incoming_utp": False,
    "enable_outgoing_utp": False,
    "allow_multiple_connections_per_ip": True,
    "announce_to_all_trackers": True,
}
ses = lt.session(settings, 0)
ses.add_extension("ut_metadata")
if source.startswith("magnet:"):
    p = lt.parse_magnet_uri(source)
else:
    p = lt.add_torrent_params()
    p.ti = lt.torrent_info(source)
p.save_path = save
h = ses.add_torrent(p)
if peer != "-":
    host, port = peer.rsplit(":", 1)
    h.connect_peer((host, int(port)))
start = time.time()
last_dial = start
while not h.status().is_seeding:
    if time.time() - start > float(timeout):
        s = h.status()
        print(f"timeout: {s.total_wanted_done} of {s.total_wanted} bytes, {s.num_peers} peers", file=sys.stderr)
        sys.exit(1)
    # A dial made before the metadata arrived may have been dropped: dial again now and then.
    if peer != "-" and time.time() - last_dial > 2 and h.status().num_peers == 0:
        h.connect_peer((host, int(port)))
        last_dial = time.time()
    time.sleep(0.05)
s = h.status()
print(json.dumps({
    "seconds": time.time() - start,
    "bytes": s.total_wanted,
    "info_hash": str(h.info_hash()),
}), flush=True)
