// The store owner's screen: a live inbox (GET /stores/{id}/orders polled every second) with accept, refuse with
// a reason, cooking started and cooking finished, the orders that left the inbox, and issuing a coupon.
import { api } from './api.js';
import { h, poll, replace } from './dom.js';
import { itemName } from './customer.js';
import { money, nameOf, statusText, t, when } from './i18n.js';

const ACTIVE = ['PAID', 'ACCEPTED', 'COOKING', 'COOKED'];
const POLL_MS = 1000;
const RECENT_MAX = 20;

export function mount(main, ctx, route, session) {
        const storeId = session.store_id;
        const base = `/stores/${encodeURIComponent(storeId)}`;
        const title = h('h2', {}, t('inbox'));
        const inbox = h('ul', { class: 'inbox', testid: 'inbox' });
        const empty = h('p', { class: 'muted' }, t('loading'));
        const recent = h('ul', { class: 'inbox recent' });
        const couponBox = h('section', { class: 'panel' });
        main.append(h('div', { class: 'columns' },
                h('section', { class: 'panel' }, title, empty, inbox, h('h3', {}, t('recent')), recent),
                couponBox));

        // One card per order, kept across polls and rebuilt only when its status changes, so that a button
        // being clicked or a reason being typed is never replaced under the user.
        const cards = new Map(); // order id -> {el, status, order}
        const menus = new Map(); // this store's menu, for the items' names in the page's language
        const customers = new Set();

        const step = (order, label, testid, path, body) => {
                const b = h('button', { testid, class: testid === 'accept' ? 'primary' : '' }, label);
                b.addEventListener('click', ctx.action(b, async () => {
                        const v = await api('POST', `${base}/orders/${encodeURIComponent(order.id)}/${path}`, body ? { body: body() } : {});
                        show(v);
                }, async (e) => {
                        if (e.status === 409) show(await api('GET', `/orders/${encodeURIComponent(order.id)}`).catch(() => null));
                }));
                return b;
        };

        const cardContent = (o) => {
                const parts = [
                        h('div', { class: 'row' },
                                h('code', {}, o.id.slice(-8)),
                                h('span', { class: 'status', testid: 'inbox-status' }, o.status),
                                h('span', { class: 'muted' }, statusText(o.status)),
                                h('time', {}, when(o.history?.[0]?.at))),
                        h('ul', { class: 'lines' }, (o.items || []).map((it) => h('li', {},
                                h('span', { class: 'item-name', dataset: { menuItemId: it.menu_item_id, name: it.name } }, itemName(menus, storeId, it)),
                                ` × ${it.quantity}`))),
                        h('p', {}, money(o.total), ' · ', o.address?.text || '', o.note ? ` · “${o.note}”` : ''),
                        o.reason ? h('p', { class: 'muted' }, `${t('reason')}: ${o.reason}`) : null,
                ];
                const buttons = [];
                if (o.status === 'PAID') {
                        const reason = h('input', { testid: 'refuse-reason', placeholder: t('defaultRefuseReason'), 'aria-label': t('refuseReason'), maxlength: 200 });
                        buttons.push(step(o, t('accept'), 'accept', 'accept'),
                                h('span', { class: 'refuse' }, reason,
                                        step(o, t('refuse'), 'refuse', 'refuse', () => ({ reason: reason.value.trim() || t('defaultRefuseReason') }))));
                } else if (o.status === 'ACCEPTED') {
                        buttons.push(step(o, t('cookingStarted'), 'cooking-started', 'cooking-started'));
                } else if (o.status === 'COOKING') {
                        buttons.push(step(o, t('cookingFinished'), 'cooking-finished', 'cooking-finished'));
                } else if (o.status === 'COOKED') {
                        buttons.push(h('span', { class: 'muted' }, t('waitingRider')));
                }
                if (buttons.length) parts.push(h('div', { class: 'actions' }, buttons));
                return parts;
        };

        // Shows order `o` in the inbox (active) or among the finished ones.
        const show = (o) => {
                if (!o || !o.id) return;
                customers.add(o.customer_id);
                let c = cards.get(o.id);
                if (c && c.order.updated_at && o.updated_at && o.updated_at < c.order.updated_at) return; // older
                if (!c) {
                        c = { el: h('li', { class: 'inbox-order', testid: 'inbox-order', dataset: { orderId: o.id } }), status: null, order: o };
                        cards.set(o.id, c);
                }
                c.order = o;
                if (c.status !== o.status) {
                        c.status = o.status;
                        c.el.dataset.status = o.status;
                        replace(c.el, cardContent(o));
                }
                const list = ACTIVE.includes(o.status) ? inbox : recent;
                if (c.el.parentNode !== list) {
                        if (list === recent) list.prepend(c.el);
                        else list.append(c.el);
                }
                while (recent.children.length > RECENT_MAX) {
                        const last = recent.lastElementChild;
                        cards.delete(last.dataset.orderId);
                        last.remove();
                }
                empty.hidden = inbox.children.length > 0;
                empty.textContent = t('inboxEmpty');
        };

        const stop = poll(ctx.guard(async (p) => {
                const orders = await api('GET', `${base}/orders?status=${ACTIVE.join(',')}`);
                if (p.stopped) return;
                const seen = new Set();
                for (const o of orders) {
                        seen.add(o.id);
                        show(o);
                }
                // Orders that left the inbox (cancelled, refused, picked up): read their final state once.
                for (const [id, c] of cards) {
                        if (seen.has(id) || !ACTIVE.includes(c.status) || c.fetching) continue;
                        c.fetching = true;
                        api('GET', `/orders/${encodeURIComponent(id)}`).then(show, () => {}).finally(() => { c.fetching = false; });
                }
                // Oldest first, as the API answers.
                for (const o of orders) {
                        const el = cards.get(o.id)?.el;
                        if (el && el.parentNode === inbox) inbox.append(el);
                }
                empty.hidden = inbox.children.length > 0;
                empty.textContent = t('inboxEmpty');
        }), POLL_MS);

        // Issue a coupon (F14): the customer is notified.
        const customerInput = h('input', { id: 'coupon-customer', list: 'known-customers', required: true, testid: 'coupon-customer' });
        const known = h('datalist', { id: 'known-customers' });
        const discount = h('input', { id: 'coupon-discount', type: 'number', min: 1, step: 100, value: 1000, testid: 'coupon-discount' });
        const issue = h('button', { class: 'primary', testid: 'issue-coupon' }, t('issue'));
        issue.addEventListener('click', ctx.action(issue, async () => {
                const c = await api('POST', `${base}/coupons`, {
                        body: { customer_id: customerInput.value.trim(), discount: Math.floor(Number(discount.value)) },
                });
                ctx.notice(t('couponIssued', { id: c.id, customer: c.customer_id || customerInput.value.trim() }));
        }));
        customerInput.addEventListener('focus', () => replace(known, [...customers].map((id) => h('option', { value: id }))));
        replace(couponBox, h('h2', {}, t('issueCoupon')),
                h('label', { for: 'coupon-customer' }, t('customerId')), customerInput, known,
                h('label', { for: 'coupon-discount' }, t('amount')), discount, issue);

        api('GET', `${base}/menu`).then((m) => {
                menus.set(storeId, m);
                // Only the names change: buttons and a reason being typed stay as they are.
                for (const el of main.querySelectorAll('.item-name')) {
                        el.textContent = itemName(menus, storeId, { menu_item_id: el.dataset.menuItemId, name: el.dataset.name });
                }
        }, () => {});
        api('GET', '/stores').then((stores) => {
                const s = stores.find((x) => x.id === storeId);
                if (s) title.textContent = `${t('inbox')} · ${nameOf(s)}`;
        }, () => {});
        return stop;
}
