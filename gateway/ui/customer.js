// The customer's screens: stores by region, a store's menu, the cart and the order (#/shop), one order live
// (#/order/<id>), order history (#/orders), grade, coupons and messages (#/me).
import { api } from './api.js';
import { h, poll, replace, uuid } from './dom.js';
import { money, nameOf, regionName, statusText, t, when } from './i18n.js';
import { followOrder } from './sse.js';

export const LIFECYCLE = ['PAID', 'ACCEPTED', 'COOKING', 'COOKED', 'PICKED_UP', 'DELIVERED', 'COMPLETED'];
// While cooking has not started the customer may cancel (F7) or change (F8) the order.
const CHANGEABLE = new Set(['PAID', 'ACCEPTED']);

// Kept across screens (and language switches) for this tab.
const state = {
        allStores: null, // GET /stores, for the region list and names
        stores: null, // the list shown (GET /stores?region=)
        region: '',
        storeId: '',
        menus: new Map(), // store id -> GET /stores/{id}/menu
        cart: { storeId: '', lines: new Map() }, // menu item id -> {item, qty}
        address: '',
        note: '',
        card: 'tok_ok',
        couponId: '',
        idempotencyKey: '', // one key per distinct order attempt: a retried click never pays twice
};

export function mount(main, ctx, route) {
        const tabs = [['shop', t('navShop')], ['orders', t('navOrders')], ['me', t('navMe')]];
        const page = route[0] === 'order' ? 'orders' : route[0] || 'shop';
        main.append(h('nav', { class: 'tabs' }, tabs.map(([k, label]) =>
                h('a', { href: `#/${k}`, class: k === page ? 'tab current' : 'tab', 'aria-current': k === page ? 'page' : null }, label))));
        const body = h('div', { class: 'page' });
        main.append(body);
        if (route[0] === 'order' && route[1]) return orderScreen(body, ctx, route[1]);
        if (route[0] === 'orders') return ordersScreen(body, ctx);
        if (route[0] === 'me') return meScreen(body, ctx);
        return shopScreen(body, ctx);
}

// An order line's name in the page's language when the store's menu is known.
export function itemName(menus, storeId, it) {
        return nameOf((menus.get(storeId) || []).find((m) => m.id === it.menu_item_id)) || it.name;
}

async function loadAllStores() {
        if (!state.allStores) state.allStores = await api('GET', '/stores');
        return state.allStores;
}

function storeById(id) {
        return (state.allStores || []).find((s) => s.id === id);
}

/* ---- #/shop ---------------------------------------------------------------------------------------------- */

function shopScreen(root, ctx) {
        let alive = true;
        const regionSelect = h('select', { testid: 'region-select', id: 'region' });
        const storeList = h('div', { class: 'store-list' });
        const menuBox = h('section', { class: 'panel menu' });
        const cartBox = h('section', { class: 'panel cart' });
        root.append(h('div', { class: 'shop' },
                h('section', { class: 'panel stores' },
                        h('h2', {}, t('stores')),
                        h('label', { for: 'region' }, t('region'), ' '), regionSelect,
                        storeList),
                menuBox, cartBox));

        const drawStores = () => {
                if (!state.stores.length) return replace(storeList, h('p', { class: 'muted' }, t('noStores')));
                replace(storeList, state.stores.map((s) => h('button', {
                        class: s.id === state.storeId ? 'store-card selected' : 'store-card',
                        testid: 'store-card', dataset: { storeId: s.id }, 'aria-pressed': s.id === state.storeId ? 'true' : 'false',
                        onclick: () => selectStore(s.id),
                }, h('strong', {}, nameOf(s)), h('span', { class: 'muted' }, regionName(s.region)))));
        };

        const loadStores = ctx.guard(async () => {
                const q = state.region ? `?region=${encodeURIComponent(state.region)}` : '';
                const list = await api('GET', `/stores${q}`);
                if (!alive) return;
                state.stores = list;
                drawStores();
        });

        const drawMenu = () => {
                const store = storeById(state.storeId);
                const menu = state.menus.get(state.storeId);
                if (!store || !menu) return replace(menuBox, h('h2', {}, t('menu')));
                replace(menuBox, h('h2', {}, t('menu'), ' · ', nameOf(store)),
                        h('ul', { class: 'menu-list' }, menu.map((m) => h('li', {
                                class: m.available ? 'menu-item' : 'menu-item unavailable', testid: 'menu-item', dataset: { menuItemId: m.id },
                        },
                        h('span', { class: 'name' }, nameOf(m)),
                        h('span', { class: 'price' }, money(m.price)),
                        h('button', {
                                testid: 'add-to-cart', disabled: !m.available, onclick: () => addToCart(store, m),
                        }, m.available ? t('add') : t('soldOut'))))));
        };

        const selectStore = ctx.guard(async (id) => {
                state.storeId = id;
                drawStores();
                if (!state.menus.get(id)) state.menus.set(id, await api('GET', `/stores/${encodeURIComponent(id)}/menu`));
                if (alive && state.storeId === id) drawMenu();
        });

        const addToCart = (store, m) => {
                ctx.clearError();
                if (state.cart.storeId !== store.id) {
                        if (state.cart.lines.size) ctx.notice(t('cartOtherStore'));
                        state.cart = { storeId: store.id, lines: new Map() };
                        state.couponId = '';
                }
                const line = state.cart.lines.get(m.id) || { item: m, qty: 0 };
                line.qty += 1;
                state.cart.lines.set(m.id, line);
                state.idempotencyKey = '';
                drawCart();
        };

        let coupons = [];
        const loadCoupons = async () => {
                try {
                        const me = await api('GET', '/customers/me');
                        coupons = (me.coupons || []).filter((c) => !c.used);
                } catch {
                        coupons = []; // the cart works without them
                }
                if (alive) drawCart();
        };

        const changed = (key) => (e) => {
                state[key] = e.target.value;
                state.idempotencyKey = '';
        };

        const drawCart = () => {
                const lines = [...state.cart.lines.values()];
                const store = storeById(state.cart.storeId);
                if (!lines.length) return replace(cartBox, h('h2', {}, t('cart')), h('p', { class: 'muted' }, t('cartEmpty')));
                const total = lines.reduce((s, l) => s + l.item.price * l.qty, 0);
                const usable = coupons.filter((c) => c.store_id === state.cart.storeId);
                if (!usable.some((c) => c.id === state.couponId)) state.couponId = '';
                const setQty = (id, q) => {
                        if (q <= 0) state.cart.lines.delete(id);
                        else state.cart.lines.get(id).qty = q;
                        state.idempotencyKey = '';
                        drawCart();
                };
                const placeButton = h('button', { class: 'primary', testid: 'place-order' }, t('placeOrder'));
                placeButton.addEventListener('click', ctx.action(placeButton, () => placeOrder(store, lines)));
                replace(cartBox, h('h2', {}, t('cart'), ' · ', nameOf(store)),
                        h('ul', { class: 'cart-lines' }, lines.map((l) => h('li', { testid: 'cart-line', dataset: { menuItemId: l.item.id } },
                                h('span', { class: 'name' }, nameOf(l.item)),
                                h('span', { class: 'qty' },
                                        h('button', { 'aria-label': '-', onclick: () => setQty(l.item.id, l.qty - 1) }, '−'),
                                        h('output', {}, l.qty),
                                        h('button', { 'aria-label': '+', onclick: () => setQty(l.item.id, l.qty + 1) }, '+')),
                                h('span', { class: 'price' }, money(l.item.price * l.qty))))),
                        h('p', { class: 'total' }, t('total'), ': ', h('strong', { testid: 'cart-total' }, money(total))),
                        h('label', {}, t('address'), h('input', { value: state.address || t('defaultAddress'), oninput: changed('address') })),
                        h('label', {}, t('note'), h('input', { value: state.note, maxlength: 500, oninput: changed('note') })),
                        h('label', {}, t('coupon'), h('select', { testid: 'coupon-select', onchange: changed('couponId') },
                                h('option', { value: '' }, t('noCoupon')),
                                usable.map((c) => h('option', { value: c.id, selected: c.id === state.couponId }, `${c.id} (−${money(c.discount)})`)))),
                        h('label', {}, t('card'), h('input', { testid: 'card-token', value: state.card, oninput: changed('card'), autocomplete: 'off' })),
                        placeButton);
        };

        const placeOrder = async (store, lines) => {
                if (!state.idempotencyKey) state.idempotencyKey = uuid();
                const body = {
                        store_id: store.id,
                        items: lines.map((l) => ({ menu_item_id: l.item.id, quantity: l.qty })),
                        // The customer is near the store here: the demo has no geocoder.
                        address: { text: state.address || t('defaultAddress'), region: store.region, lat: store.lat + 0.001, lon: store.lon + 0.001 },
                        note: state.note,
                        payment: { card_token: state.card },
                };
                if (state.couponId) body.coupon_id = state.couponId;
                let order;
                try {
                        order = await api('POST', '/orders', { body, headers: { 'Idempotency-Key': state.idempotencyKey } });
                } catch (e) {
                        // Declined, invalid, refused: a new attempt is a new order. Only a lost answer or an
                        // overloaded provider (5xx) is retried with the same key.
                        if (e.status >= 400 && e.status < 500) state.idempotencyKey = '';
                        throw e;
                }
                state.cart = { storeId: '', lines: new Map() };
                state.idempotencyKey = '';
                state.couponId = '';
                location.hash = `#/order/${encodeURIComponent(order.id)}`;
        };

        regionSelect.addEventListener('change', () => {
                state.region = regionSelect.value;
                loadStores();
        });
        (async () => {
                const all = await ctx.guard(loadAllStores)();
                if (!all || !alive) return;
                const regions = [...new Set(all.map((s) => s.region))].sort();
                replace(regionSelect, h('option', { value: '' }, t('allRegions')),
                        regions.map((r) => h('option', { value: r, selected: r === state.region }, regionName(r))));
                await loadStores();
                if (state.storeId) selectStore(state.storeId);
        })();
        drawCart();
        loadCoupons();
        return () => { alive = false; };
}

/* ---- #/order/<id> ---------------------------------------------------------------------------------------- */

function orderScreen(root, ctx, id) {
        let view = null;
        let actionsKey = null;
        let editing = false;
        const statusEl = h('span', { class: 'status', testid: 'order-status', dataset: { orderId: id } }, '…');
        const statusDesc = h('span', { class: 'status-text' });
        const liveEl = h('span', { class: 'live muted', testid: 'stream-state' });
        const actions = h('div', { class: 'actions' });
        const editor = h('div', { class: 'editor' });
        const timeline = h('ol', { class: 'timeline', testid: 'timeline' });
        const details = h('div', { class: 'details' });
        root.append(h('section', { class: 'panel order' },
                h('h2', {}, t('order'), ' ', h('code', {}, id)),
                h('p', { class: 'status-line' }, statusEl, ' ', statusDesc, ' ', liveEl),
                actions, editor,
                h('h3', {}, t('timeline')), timeline,
                details));

        const apply = (v) => {
                if (!v || v.id !== id) return;
                if (!state.menus.has(v.store_id)) {
                        // For the items' names in the page's language; the order keeps the catalog's own.
                        state.menus.set(v.store_id, null);
                        api('GET', `/stores/${encodeURIComponent(v.store_id)}/menu`).then((m) => {
                                state.menus.set(v.store_id, m);
                                if (view) draw();
                        }, () => state.menus.delete(v.store_id));
                }
                // Answers and stream events may cross: keep the newest view.
                if (view && v.updated_at && view.updated_at && v.updated_at < view.updated_at) return;
                view = v;
                draw();
        };

        const act = (label, testid, fn) => {
                const b = h('button', { testid }, label);
                b.addEventListener('click', ctx.action(b, async () => apply(await fn()), async (e) => {
                        // Lost a race (409: cooking already started, ...): show it and the real state.
                        if (e.status === 409) apply(await api('GET', `/orders/${encodeURIComponent(id)}`).catch(() => null));
                }));
                return b;
        };

        const draw = () => {
                const v = view;
                statusEl.textContent = v.status;
                statusDesc.textContent = statusText(v.status);
                const allowed = [];
                if (CHANGEABLE.has(v.status)) allowed.push('cancel', 'modify');
                if (v.status === 'DELIVERED') allowed.push('confirm');
                const key = allowed.join();
                if (key !== actionsKey) {
                        // Rebuilt only when what is allowed changes, so a button is never swapped under a click.
                        actionsKey = key;
                        replace(actions, allowed.map((a) => {
                                if (a === 'cancel') return act(t('cancelOrder'), 'cancel-order', () => api('POST', `/orders/${encodeURIComponent(id)}/cancel`, { body: {} }));
                                if (a === 'confirm') return act(t('confirmOrder'), 'confirm-order', () => api('POST', `/orders/${encodeURIComponent(id)}/confirm`));
                                return h('button', { testid: 'modify-order', onclick: () => { editing = !editing; drawEditor(); } }, t('modifyOrder'));
                        }));
                        if (!allowed.includes('modify')) editing = false;
                        drawEditor();
                }
                // PAYMENT_PENDING is the saga's own step before the order exists for the customer.
                const history = (v.history || []).filter((e) => e.status !== 'PAYMENT_PENDING');
                const reached = new Map();
                for (const e of history) reached.set(e.status, e.at);
                const branch = !LIFECYCLE.includes(v.status) || history.some((e) => !LIFECYCLE.includes(e.status));
                const steps = branch ? history.map((e) => e.status) : LIFECYCLE;
                replace(timeline, steps.map((s) => h('li', {
                        class: s === v.status ? 'current' : reached.has(s) ? 'done' : 'todo', dataset: { status: s },
                }, h('span', { class: 'step' }, statusText(s)), ' ', h('span', { class: 'muted' }, s), ' ', h('time', {}, when(reached.get(s))))));
                replace(details,
                        h('h3', {}, t('items')),
                        h('ul', {}, (v.items || []).map((it) => h('li', {}, `${itemName(state.menus, v.store_id, it)} × ${it.quantity}`, ' ', h('span', { class: 'price' }, money(it.unit_price * it.quantity))))),
                        h('dl', { class: 'amounts' },
                                h('dt', {}, t('total')), h('dd', { testid: 'order-total' }, money(v.total)),
                                v.discount ? [h('dt', {}, t('discount')), h('dd', {}, `−${money(v.discount)}`)] : null,
                                h('dt', {}, t('paid')), h('dd', {}, money(v.amount_paid)),
                                h('dt', {}, t('refunded')), h('dd', { testid: 'order-refunded' }, money(v.amount_refunded)),
                                h('dt', {}, t('address')), h('dd', {}, v.address?.text || ''),
                                v.note ? [h('dt', {}, t('note')), h('dd', {}, v.note)] : null,
                                v.reason ? [h('dt', {}, t('reason')), h('dd', { testid: 'order-reason' }, v.reason)] : null,
                                v.rider_id ? [h('dt', {}, t('rider')), h('dd', {}, v.rider_id)] : null));
        };

        const drawEditor = () => {
                if (!editing || !view) return replace(editor);
                const qty = new Map((view.items || []).map((it) => [it.menu_item_id, it.quantity]));
                const address = h('input', { value: view.address?.text || '' });
                const note = h('input', { value: view.note || '', maxlength: 500 });
                const save = h('button', { class: 'primary', testid: 'save-order' }, t('saveChanges'));
                save.addEventListener('click', ctx.action(save, async () => {
                        const items = [...qty].filter(([, q]) => q > 0).map(([menu_item_id, quantity]) => ({ menu_item_id, quantity }));
                        const body = { items, note: note.value, address: { ...view.address, text: address.value } };
                        apply(await api('PATCH', `/orders/${encodeURIComponent(id)}`, { body }));
                        editing = false;
                        drawEditor();
                }));
                replace(editor, h('div', { class: 'panel inset' },
                        h('ul', {}, (view.items || []).map((it) => h('li', {}, `${it.name} `,
                                h('label', {}, t('quantity'), ' ', h('input', {
                                        type: 'number', min: 0, max: 99, value: it.quantity, class: 'qty-input',
                                        oninput: (e) => qty.set(it.menu_item_id, Math.max(0, Math.floor(Number(e.target.value) || 0))),
                                }))))),
                        h('label', {}, t('address'), address),
                        h('label', {}, t('note'), note),
                        save, ' ', h('button', { onclick: () => { editing = false; drawEditor(); } }, t('close'))));
        };

        ctx.guard(async () => apply(await api('GET', `/orders/${encodeURIComponent(id)}`)))();
        const stop = followOrder(id, {
                onView: apply,
                onState: (s) => {
                        liveEl.textContent = t({ live: 'live', ended: 'ended', closed: 'live' }[s] || 'reconnecting');
                        liveEl.dataset.state = s === 'closed' ? 'live' : s;
                },
                onProblem: (e) => ctx.fail(e),
        });
        return stop;
}

/* ---- #/orders -------------------------------------------------------------------------------------------- */

function ordersScreen(root, ctx) {
        const list = h('ul', { class: 'orders' }, h('li', { class: 'muted' }, t('loading')));
        root.append(h('section', { class: 'panel' }, h('h2', {}, t('navOrders')), list));
        const stop = poll(ctx.guard(async (p) => {
                const [orders] = await Promise.all([api('GET', '/orders'), loadAllStores()]);
                if (p.stopped) return;
                if (!orders.length) return replace(list, h('li', { class: 'muted' }, t('noOrders')));
                replace(list, orders.map((o) => h('li', { testid: 'order-row', dataset: { orderId: o.id } },
                        h('a', { href: `#/order/${encodeURIComponent(o.id)}` }, nameOf(storeById(o.store_id)) || o.store_id),
                        ' ', h('span', { class: 'status' }, o.status), ' ', h('span', { class: 'muted' }, statusText(o.status)),
                        ' ', h('span', { class: 'price' }, money(o.total)), ' ', h('time', {}, when(o.history?.[0]?.at)))));
        }), 5000);
        return stop;
}

/* ---- #/me ------------------------------------------------------------------------------------------------ */

function meScreen(root, ctx) {
        const profile = h('section', { class: 'panel' });
        const messages = h('section', { class: 'panel' });
        root.append(h('div', { class: 'columns' }, profile, messages));
        const stop = poll(ctx.guard(async (p) => {
                const [me, notes] = await Promise.all([api('GET', '/customers/me'), api('GET', '/customers/me/notifications'), loadAllStores()]);
                if (p.stopped) return;
                replace(profile, h('h2', {}, t('navMe')),
                        h('dl', { class: 'amounts' },
                                h('dt', {}, t('grade')), h('dd', { testid: 'grade' }, me.grade),
                                h('dt', {}, t('completedOrders')), h('dd', {}, me.completed_orders)),
                        h('h3', {}, t('coupons')),
                        me.coupons?.length ? h('ul', {}, me.coupons.map((c) => h('li', { testid: 'coupon', dataset: { couponId: c.id }, class: c.used ? 'used' : '' },
                                `−${money(c.discount)} `, t('forStore', { store: nameOf(storeById(c.store_id)) || c.store_id }),
                                c.used ? ` (${t('used')})` : ''))) : h('p', { class: 'muted' }, t('noCouponsYet')));
                replace(messages, h('h2', {}, t('notifications')),
                        notes.length ? h('ul', { class: 'notifications' }, [...notes].reverse().map((n) => h('li', { testid: 'notification' },
                                h('time', {}, when(n.at)), ' ', h('span', { class: 'status' }, n.status), ' ', n.message))) :
                                h('p', { class: 'muted' }, t('noNotifications')));
        }), 3000);
        return stop;
}
