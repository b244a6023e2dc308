/* NATS service discovery (ADR-32 "micro" protocol) answered by hand, because Debian's nats.c 3.4.1 has no
 * micro-services API: `nats micro ls|info|stats` list every running process and its endpoints. */
#pragma once

#include "bus.h"

#define DISCOVERY_VERSION "0.1.0" /* the service version announced; keep with meson.build's project version */

/* Subscribes (plain subscriptions, every instance answers) to $SRV.PING, $SRV.INFO and $SRV.STATS, each also
 * with .<name> and .<name>.<id>, on the connection of `bus` (borrowed; must outlive the process's use of
 * discovery) and answers with io.nats.micro.v1.{ping,info,stats}_response JSON bodies. `name` (borrowed for
 * the call) is the service name; the endpoints announced are derived from it (its durable consumers or RPC
 * subjects; none for an unknown name). A second call replaces the first announcement. Best effort: a failure
 * is logged as a warning and the process runs on undiscoverable. */
void discovery_start(Bus *bus, const char *name);

/* Unsubscribes and frees what discovery_start set up; nothing when it never ran. */
void discovery_stop(void);
