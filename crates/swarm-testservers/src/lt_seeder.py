# A libtorrent (PyPI) seeder for the torrent tests: seeds the given .torrent files from DIR,
# bound to one loopback address, DHT, LSD, UPnP, NAT-PMP, uTP and PEX off (ut_metadata kept, so
# magnets resolve). Prints READY once every torrent is seeding; runs until killed.
#   python lt_seeder.py IP PORT DIR FILE.torrent...
import sys
import time

import libtorrent as lt

ip, port, save = sys.argv[1], int(sys.argv[2]), sys.argv[3]
settings = {
    "listen_interfaces": f"{ip}:{port}",
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
# No default plugins: ut_pex is one of them. ut_metadata serves magnets' metadata.
ses = lt.session(settings, 0)
ses.add_extension("ut_metadata")
handles = []
for path in sys.argv[4:]:
    p = lt.add_torrent_params()
    p.ti = lt.torrent_info(path)
    p.save_path = save
    p.flags |= lt.torrent_flags.seed_mode
    handles.append(ses.add_torrent(p))
while not all(h.status().is_seeding for h in handles):
    time.sleep(0.1)
print("READY", flush=True)
while True:
    time.sleep(1)
