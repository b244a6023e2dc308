/* Notification texts per order status. */
#include "notification-message.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

typedef struct {
        const char *status;
        const char *text;
} StatusText;

static const StatusText texts[] = {
        {"PAYMENT_PENDING", "결제를 진행하고 있습니다 (Your payment is being processed)"},
        {"PAID", "결제가 완료되어 주문이 가게에 전달되었습니다 (Your payment went through and the store has your order)"},
        {"ACCEPTED", "주문이 접수되었습니다 (Your order was accepted by the store)"},
        {"COOKING", "가게에서 음식을 조리하고 있습니다 (The store started cooking your order)"},
        {"COOKED", "조리가 완료되어 라이더를 기다리고 있습니다 (Your order is cooked and waiting for a rider)"},
        {"PICKED_UP", "라이더가 음식을 픽업해 배달 중입니다 (A rider picked up your order and is on the way)"},
        {"DELIVERED", "배달이 완료되었습니다. 맛있게 드세요! (Your order was delivered. Enjoy your meal!)"},
        {"COMPLETED", "주문이 완료되었습니다. 이용해 주셔서 감사합니다 (Your order is complete. Thank you!)"},
        {"REJECTED", "결제가 승인되지 않아 주문이 접수되지 않았습니다 (Your payment was not approved, so the order was not placed)"},
        {"REFUSED", "가게 사정으로 주문이 거절되었습니다. 결제 금액은 환불됩니다 (The store could not take your order; your payment will be refunded)"},
        {"CANCELLED", "주문이 취소되었습니다. 결제 금액은 환불됩니다 (Your order was cancelled; your payment will be refunded)"},
};

/* 0 when snprintf's result `n` fitted in `cap`, else -ENOSPC. */
static int fit(size_t cap, int n) {
        return (n < 0 || (size_t)n >= cap) ? -ENOSPC : 0;
}

int notification_format_krw(int64_t amount, char *buf, size_t cap) {
        char digits[32];
        /* Through unsigned so that INT64_MIN has a magnitude too. */
        uint64_t mag = amount < 0 ? (uint64_t)0 - (uint64_t)amount : (uint64_t)amount;
        int n = snprintf(digits, sizeof(digits), "%" PRIu64, mag);
        size_t pos = 0, need = (size_t)n + (size_t)(n - 1) / 3 + (amount < 0) + 1;

        if (need > cap) {
                if (cap)
                        buf[0] = 0;
                return -ENOSPC;
        }
        if (amount < 0)
                buf[pos++] = '-';
        for (int i = 0; i < n; i++) {
                if (i > 0 && (n - i) % 3 == 0)
                        buf[pos++] = ',';
                buf[pos++] = digits[i];
        }
        buf[pos] = 0;
        return 0;
}

int notification_message(const char *status, const char *previous_status, int64_t amount_refunded, char *buf,
                         size_t cap) {
        char krw[40];

        if (!status || !*status)
                return -EINVAL;
        if (previous_status && strcmp(status, previous_status) == 0) {
                if ((strcmp(status, "CANCELLED") == 0 || strcmp(status, "REFUSED") == 0) && amount_refunded > 0) {
                        if (notification_format_krw(amount_refunded, krw, sizeof(krw)) < 0)
                                return -ENOSPC;
                        return fit(cap,
                                   snprintf(buf, cap, "%s원이 환불되었습니다 (%s KRW was refunded to you)", krw, krw));
                }
                return fit(cap, snprintf(buf, cap, "주문 내용이 변경되었습니다 (Your order was updated)"));
        }
        for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
                if (strcmp(texts[i].status, status) == 0)
                        return fit(cap, snprintf(buf, cap, "%s", texts[i].text));
        return fit(cap,
                   snprintf(buf, cap, "주문 상태가 %s(으)로 바뀌었습니다 (Your order is now %s)", status, status));
}

int notification_kind_message(const char *kind, char *buf, size_t cap) {
        if (kind && strcmp(kind, "COUPON_ISSUED") == 0)
                return fit(cap, snprintf(buf, cap, "쿠폰이 발급되었습니다 (You received a coupon)"));
        if (kind && strcmp(kind, "THANK_YOU") == 0)
                return fit(cap, snprintf(buf, cap, "주문해 주셔서 감사합니다 (Thank you for your order)"));
        return fit(cap, snprintf(buf, cap, "새 알림이 있습니다 (You have a new notification)"));
}
