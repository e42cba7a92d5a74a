#!/usr/bin/env bash
# t_sf_deferred.sh over TCP: clients, SIPp and the deliveries to them.
SF_TRANSPORT=tcp exec bash "$(dirname "$0")/t_sf_deferred.sh"
