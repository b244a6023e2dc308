// Sign-in: in local mode (POST /auth/dev-token exists, DEV_TOKENS=true) a role picker; otherwise, and always
// as a second way, paste a bearer token.
import { ApiError, api, decodeToken, setToken } from './api.js';
import { h, replace } from './dom.js';
import { nameOf, regionName, t } from './i18n.js';

const ROLES = ['customer', 'store', 'rider'];

// A stable demo identity per browser and role, e.g. customer-3f9a1c.
function defaultSub(role) {
        const key = `food.sub.${role}`;
        let v = localStorage.getItem(key);
        if (!v) {
                const hex = [...crypto.getRandomValues(new Uint8Array(3))].map((b) => b.toString(16).padStart(2, '0')).join('');
                v = `${role === 'store' ? 'owner' : role}-${hex}`;
                localStorage.setItem(key, v);
        }
        return v;
}

export function mount(main, ctx) {
        const dev = h('div', { class: 'dev' }, h('p', { class: 'muted' }, t('loading')));
        const tokenInput = h('textarea', { testid: 'token-input', id: 'token', rows: 3, spellcheck: 'false', autocomplete: 'off' });
        const use = h('button', { testid: 'use-token' }, t('useToken'));
        const pasteIntro = h('p', { class: 'muted' });
        main.append(h('section', { class: 'panel signin' },
                h('h2', {}, t('signInTitle')),
                dev,
                h('h3', {}, h('label', { for: 'token' }, t('pasteToken'))),
                pasteIntro, tokenInput, use));

        use.addEventListener('click', ctx.action(use, async () => {
                const c = decodeToken(tokenInput.value);
                if (!c || !ROLES.concat('admin').includes(c.role)) throw new ApiError(400, t('badToken'));
                if (c.exp && c.exp * 1000 < Date.now()) throw new ApiError(401, t('expired'));
                // Let the gateway judge the signature now, with a read the role may do, not at the first click.
                const probe = { customer: '/customers/me', rider: '/deliveries',
                        store: `/stores/${encodeURIComponent(c.store_id || '')}/orders?status=PAID`, admin: '/readyz' }[c.role];
                await api('GET', probe, { headers: { Authorization: `Bearer ${tokenInput.value.trim()}` } });
                ctx.signIn(tokenInput.value);
        }));

        const mint = async (role, storeId) => {
                const sub = subInput.value.trim() || (role === 'store' ? `owner-${storeId}` : defaultSub(role));
                const body = { sub, role };
                if (storeId) body.store_id = storeId;
                const r = await api('POST', '/auth/dev-token', { body, auth: false });
                ctx.signIn(r.token);
        };

        const subInput = h('input', { id: 'sub', testid: 'signin-sub', placeholder: defaultSub('customer'), autocomplete: 'off', maxlength: 64 });
        const storeChoices = h('div', { class: 'store-choices' });
        const button = (role, label) => {
                const b = h('button', { class: 'role', testid: `signin-${role}` }, label);
                b.addEventListener('click', ctx.action(b, async () => {
                        if (role !== 'store') return mint(role);
                        const stores = await api('GET', '/stores', { auth: false });
                        replace(storeChoices, h('p', {}, t('chooseStore')), stores.map((s) => {
                                const c = h('button', { class: 'store-choice', testid: 'store-choice', dataset: { storeId: s.id } },
                                        h('strong', {}, nameOf(s)), ' ', h('span', { class: 'muted' }, regionName(s.region)));
                                c.addEventListener('click', ctx.action(c, () => mint('store', s.id)));
                                return c;
                        }));
                }));
                return b;
        };

        (async () => {
                // The route exists only with DEV_TOKENS=true: an empty body then gets 400/422, otherwise 404.
                let available = true;
                try {
                        await api('POST', '/auth/dev-token', { body: {}, auth: false });
                } catch (e) {
                        if (e.status === 404) available = false;
                        else if (e.status === 0) ctx.fail(e);
                }
                if (!available) {
                        replace(dev);
                        pasteIntro.textContent = t('signInNoDev');
                        tokenInput.focus();
                        return;
                }
                replace(dev, h('p', { class: 'muted' }, t('signInDev')),
                        h('label', { for: 'sub' }, t('userId')), subInput,
                        h('div', { class: 'roles' },
                                button('customer', t('asCustomer')), button('store', t('asStore')), button('rider', t('asRider'))),
                        storeChoices);
        })();
        return () => {};
}
