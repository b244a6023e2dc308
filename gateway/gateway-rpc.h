/* Synchronous decisions: one core NATS request to the orchestrator
 * (food.rpc.orders.*) with the RPC deadline, its RpcReply turned into the
 * HTTP answer (order view or problem+json). */
#pragma once
#include <protobuf-c/protobuf-c.h>

#include "codec.h"
#include "gateway-routes.h"

/* Registers the RPC outcome metrics; once, before serving. */
void rpc_metrics_init(void);

/* Sends `msg` (borrowed) on its registered RPC subject with header Food-Type = its protobuf
 * name and answers the request:
 *   2xx reply with an order -> that status + the order view (Location on 201),
 *                              and the order's version is remembered;
 *   4xx/5xx reply           -> problem+json with its title/detail, Retry-After
 *                              when retry_after_s > 0;
 *   no answer in time       -> 504; nobody listening -> 503 + Retry-After: 1. */
void rpc_answer(Request *rq, const ProtobufCMessage *msg);
