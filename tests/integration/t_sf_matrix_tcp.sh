#!/usr/bin/env bash
# The store-and-forward decision matrix of t_sf_matrix.sh, every SIP leg over TCP: the SIPp
# senders and devices (-t t1), sipmsg.py, the message-summary subscribers and bob's two
# baresip phones (transport=tcp).  See t_sf_matrix.sh for the rows and checks.
SF_MATRIX_TR=tcp
. "$(dirname "$0")/t_sf_matrix.sh"
