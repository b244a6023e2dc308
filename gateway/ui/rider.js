// The rider's screen: open deliveries of every region (or the one region-select names), polled every second;
// pick one (a lost race answers 409, shown as it is), then mark it delivered.
import { api } from './api.js';
import { h, poll, replace } from './dom.js';
import { nameOf, regionName, t } from './i18n.js';

const POLL_MS = 1000;
const MINE_KEY = 'food.rider.mine';

// The deliveries this rider picked, kept for the tab: the API lists only open ones.
function loadMine() {
        try {
                const v = JSON.parse(sessionStorage.getItem(MINE_KEY) || '[]');
                return Array.isArray(v) ? v : [];
        } catch {
                return [];
        }
}

function saveMine(mine) {
        sessionStorage.setItem(MINE_KEY, JSON.stringify(mine.slice(0, 20)));
}

let region = '';

export function mount(main, ctx) {
        let stores = [];
        let mine = loadMine();
        const regionSelect = h('select', { testid: 'region-select', id: 'rider-region' }, h('option', { value: '' }, t('allRegions')));
        const openList = h('ul', { class: 'deliveries', testid: 'open-deliveries' });
        const openEmpty = h('p', { class: 'muted' }, t('loading'));
        const mineList = h('ul', { class: 'deliveries mine' });
        main.append(h('div', { class: 'columns' },
                h('section', { class: 'panel' }, h('h2', {}, t('openDeliveries')),
                        h('label', { for: 'rider-region' }, t('region'), ' '), regionSelect, openEmpty, openList),
                h('section', { class: 'panel' }, h('h2', {}, t('myDeliveries')), mineList)));

        const storeName = (id) => nameOf(stores.find((s) => s.id === id)) || id;
        const place = (loc) => (loc ? `${loc.text || ''} (${regionName(loc.region || '')})` : '');

        const item = (d, buttons, extra) => h('li', { class: 'delivery-item', testid: 'delivery-item', dataset: { orderId: d.order_id, deliveryId: d.id } },
                h('div', {}, h('strong', {}, storeName(d.store_id)), ' ', h('code', {}, d.order_id.slice(-8)), extra || null),
                h('div', {}, h('span', { class: 'muted' }, t('pickup'), ': '), place(d.pickup)),
                h('div', {}, h('span', { class: 'muted' }, t('dropoff'), ': '), place(d.dropoff)),
                buttons.length ? h('div', { class: 'actions' }, buttons) : null);

        const drawMine = () => {
                replace(mineList, mine.map((d) => {
                        const buttons = [];
                        if (d.state === 'PICKED_UP') {
                                const b = h('button', { class: 'primary', testid: 'delivered' }, t('delivered'));
                                b.addEventListener('click', ctx.action(b, async () => {
                                        await api('POST', `/deliveries/${encodeURIComponent(d.id)}/delivered`);
                                        d.state = 'DELIVERED';
                                        saveMine(mine);
                                        drawMine();
                                }));
                                buttons.push(b);
                        }
                        return item(d, buttons, h('span', { class: 'status', testid: 'delivery-status' }, d.state));
                }));
        };

        // Open deliveries keyed by order id; an element stays while its delivery stays open.
        const shown = new Map();
        const drawOpen = (list) => {
                const mineIds = new Set(mine.map((d) => d.order_id));
                const open = list.filter((d) => !mineIds.has(d.order_id));
                const keep = new Set(open.map((d) => d.order_id));
                for (const [id, el] of shown) if (!keep.has(id)) { el.remove(); shown.delete(id); }
                for (const d of open) {
                        let el = shown.get(d.order_id);
                        if (!el) {
                                const b = h('button', { class: 'primary', testid: 'pick' }, t('pick'));
                                b.addEventListener('click', ctx.action(b, async () => {
                                        await api('POST', `/deliveries/${encodeURIComponent(d.id)}/pick`);
                                        mine = [{ ...d, state: 'PICKED_UP' }, ...mine.filter((m) => m.order_id !== d.order_id)];
                                        saveMine(mine);
                                        shown.get(d.order_id)?.remove();
                                        shown.delete(d.order_id);
                                        drawMine();
                                }, async (e) => {
                                        // Another rider was faster (409): it is not ours, drop it now.
                                        if (e.status === 409 || e.status === 404) {
                                                shown.get(d.order_id)?.remove();
                                                shown.delete(d.order_id);
                                        }
                                }));
                                el = item(d, [b]);
                                shown.set(d.order_id, el);
                        }
                        openList.append(el); // keeps the API's order
                }
                openEmpty.hidden = shown.size > 0;
                openEmpty.textContent = t('noDeliveries');
        };

        regionSelect.addEventListener('change', () => {
                region = regionSelect.value;
                refresh();
        });

        let seq = 0;
        const refresh = ctx.guard(async (p) => {
                const mySeq = ++seq;
                const q = region ? `?region=${encodeURIComponent(region)}` : '';
                const list = await api('GET', `/deliveries${q}`);
                if ((p && p.stopped) || mySeq !== seq) return; // a newer request (another region) answers instead
                drawOpen(list);
        });
        const stop = poll(refresh, POLL_MS);

        ctx.guard(async () => {
                stores = await api('GET', '/stores');
                const regions = [...new Set(stores.map((s) => s.region))].sort();
                replace(regionSelect, h('option', { value: '' }, t('allRegions')),
                        regions.map((r) => h('option', { value: r, selected: r === region }, regionName(r))));
                drawMine();
        })();
        drawMine();
        return stop;
}
