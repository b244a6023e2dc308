/* The customer-facing text of each notification: Korean first, English in parentheses. Pure. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define NOTIFICATION_MESSAGE_MAX 512

/* Writes the message for an order that moved from `previous_status` to `status` into buf. A change
 * that kept the status (a modification, or a refund landing on a CANCELLED/REFUSED order, told by
 * amount_refunded > 0) gets its own message; an unknown status gets a generic one naming it.
 * Returns 0, -EINVAL (status NULL or empty) or -ENOSPC (cap too small; buf holds a cut string). */
int notification_message(const char *status, const char *previous_status, int64_t amount_refunded, char *buf,
                         size_t cap);

/* Writes a generic message for a NotifyCustomer of `kind` that carried no text. 0 or -ENOSPC. */
int notification_kind_message(const char *kind, char *buf, size_t cap);

/* Formats KRW with thousands separators ("15,000"). 0 or -ENOSPC. */
int notification_format_krw(int64_t amount, char *buf, size_t cap);
