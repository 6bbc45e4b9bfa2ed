-- Prosody 0.12 (Debian) configuration used as the behaviour reference for Parley's interop suite and as the
-- comparison point for `npm run bench:signaling` (which runs it next to the room).
--
-- This file is a template: test/bench/prosody/start.ts replaces the at-sign placeholders (free port, temp dirs,
-- limits, TURN secret) and starts `prosody --config <rendered file> -F` as a child process.
-- Loopback only, no c2s/s2s TCP ports, no TLS: XMPP over WebSocket (RFC 7395) at
-- ws://127.0.0.1:PORT/xmpp-websocket, anonymous login (RFC 4505), MUC (XEP-0045) on conference.DOMAIN,
-- TURN credentials via XEP-0215 external service discovery (mod_turn_external, coturn use-auth-secret scheme).

run_as_root = true -- the test machine runs everything as root; Prosody refuses otherwise
daemonize = false
pidfile = "@DATA_DIR@/prosody.pid"
data_path = "@DATA_DIR@"
plugin_paths = {}

log = {
	{ levels = { min = "@LOG_LEVEL@" }, to = "file", filename = "@DATA_DIR@/prosody.log" };
}

-- Listen on loopback only, and only for HTTP (WebSocket); no TCP c2s/s2s/components.
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
http_interfaces = { "127.0.0.1" }
http_ports = { @HTTP_PORT@ }
https_ports = {}
c2s_ports = {}
c2s_direct_tls_ports = {}
s2s_ports = {}
component_ports = {}

-- Never batch small frames (Nagle adds 30-40 ms stalls to sparse traffic); fair comparison with workerd.
network_settings = { nagle = false }

modules_enabled = {
	"disco";
	"saslauth";
	"websocket";
	"ping";
	"turn_external";
}
modules_disabled = { "s2s"; "offline"; "c2s_direct_tls" }

authentication = "anonymous"
allow_anonymous_s2s = false
c2s_require_encryption = false
consider_websocket_secure = true
certificates = "@DATA_DIR@"
c2s_stanza_size_limit = @STANZA_LIMIT@
limits = {}

-- XEP-0215 (via mod_external_services): coturn's use-auth-secret scheme, password = base64(HMAC-SHA1(secret, user)).
turn_external_secret = "@TURN_SECRET@"
turn_external_host = "127.0.0.1"
turn_external_port = 3478
turn_external_ttl = 86400
turn_external_tcp = true

VirtualHost "@DOMAIN@"

Component "conference.@DOMAIN@" "muc"
	-- Parley's rooms are usable immediately (no XEP-0045 §10.1.2 lock): match that for like-for-like tests.
	muc_room_locking = false
	muc_room_default_history_length = 0
	muc_room_default_public = false
	muc_tombstones = false
