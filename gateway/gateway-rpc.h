/* Synchronous decisions: one core NATS request to the orchestrator
 * (food.rpc.orders.*) with the RPC deadline, its RpcReply turned into the
 * HTTP answer (order view or problem+json). */
#pragma once
#include <protobuf-c/protobuf-c.h>

#include "codec.h"
#include "gateway-routes.h"

/* Registers the RPC outcome metrics; once, before serving. */
void rpc_metrics_init(void);

/* Sends `msg` (borrowed) to the orchestrator that owns the shard of `route_id` (an order id, or the
 * customer of a store's coupon; NULL: the read-only subject any orchestrator answers), on its
 * verb's subject with header Food-Type = its protobuf name, and answers the request:
 *   2xx reply with an order -> that status + the order view (Location on 201);
 *   4xx/5xx reply           -> problem+json with its title/detail, Retry-After
 *                              when retry_after_s > 0;
 *   no answer in time       -> 504; nobody listening -> 503 + Retry-After: 1 (after retrying while
 *                              the deadline allows: a shard changing owner is not listened to for
 *                              a moment). */
void rpc_answer(Request *rq, const ProtobufCMessage *msg, const char *route_id);
/* Sends `msg` like rpc_answer and hands the RpcReply over (codec_free it) for the caller to answer:
 * 0, or -1 when an answer (problem) was already sent. */
int rpc_call(Request *rq, const ProtobufCMessage *msg, const char *route_id, Food__V1__RpcReply **ret);
