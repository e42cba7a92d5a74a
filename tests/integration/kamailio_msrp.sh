# kamailio_msrp.sh — sourced: kamailio_msrp_cfg PORT [TCP_CHILDREN] prints a Kamailio
# config that is an RFC 4976 MSRP relay on 127.0.0.1:PORT (its msrp module; no
# authentication).  Used by t_msrp_kamailio.sh (interop) and bench/msrp_relay.sh.
# It is the verified config of ../shared/guide/ecosystem.md §3 plus cmap_size:
# without it msrp_cmap_save() fails and AUTH is never answered.  Kamailio keeps each
# frame whole in a 16 KB TCP buffer: chunks from about 16 KB on are dropped ("buffer
# overrun").  Its session lookup treats a To-Path of two URIs as "to the session's
# client", so a sender must address bob's relay path, not its own relay URI first.
kamailio_msrp_cfg() {
	local port=$1 tcp_children=${2:-2}
	cat <<CFG
#!KAMAILIO
debug=1
log_stderror=yes
children=1
tcp_children=$tcp_children
listen=tcp:127.0.0.1:$port
tcp_accept_no_cl=yes
loadmodule "sl.so"
loadmodule "kex.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "msrp.so"
modparam("msrp", "cmap_size", 8)
modparam("msrp", "use_path_addr", "127.0.0.1:$port")
request_route { sl_send_reply("403", "No SIP Here"); exit; }
event_route[msrp:frame-in] {
  msrp_reply_flags("1");
  if (msrp_is_reply()) { msrp_relay(); exit; }
  if (\$msrp(method)=="AUTH") { if (\$msrp(nexthops)>0) { msrp_relay(); exit; } msrp_cmap_save(); exit; }
  if (\$msrp(method)=="SEND" || \$msrp(method)=="REPORT") {
    if (\$msrp(nexthops)>1) { if (\$msrp(method)!="REPORT") msrp_reply("200","OK"); msrp_relay(); exit; }
    if (msrp_cmap_lookup()) { if (\$msrp(method)!="REPORT") msrp_reply("200","OK"); msrp_relay_flags("1"); msrp_relay(); }
    else msrp_reply("481", "Session-does-not-exist");
    exit; }
  msrp_reply("501", "Request-method-not-understood"); }
CFG
}
