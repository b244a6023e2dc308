/* HTTP health endpoints every worker process exposes: /healthz, /readyz, /metrics. */
#pragma once
#include <stdbool.h>

struct mg_connection;
typedef struct Health Health;
typedef bool (*HealthReadyFn)(void *userdata);

/* Starts a small civetweb server on 127.0.0.1-or-any:`port` (HEALTH_BIND).
 * `ready` decides /readyz (200 or 503); userdata is borrowed. */
int health_start(Health **ret, const char *bind_addr, int port, HealthReadyFn ready, void *userdata);
void health_stop(Health *h);

/* Shared by the gateway too: writes the three endpoints' answers. */
void health_write_healthz(struct mg_connection *conn);
void health_write_readyz(struct mg_connection *conn, bool ready);
void health_write_metrics(struct mg_connection *conn);
