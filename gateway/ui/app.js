// The single-page web UI (SPEC F18): header, language, errors, and which screen the signed-in role sees.
// Screens live in signin.js, customer.js, store.js and rider.js; they talk only to the HTTP API of SPEC §4.
import { ApiError, session, setToken } from './api.js';
import * as customer from './customer.js';
import { h, replace } from './dom.js';
import { getLang, setLang, t } from './i18n.js';
import * as rider from './rider.js';
import * as signin from './signin.js';
import * as store from './store.js';

const $ = (id) => document.getElementById(id);
let unmount = () => {};

function showError(e) {
        const detail = e instanceof ApiError || e?.detail ? e.detail : String(e?.message || e);
        $('error').textContent = detail;
        $('error').dataset.status = e?.status ?? '';
        $('error-box').hidden = false;
}

function clearError() {
        $('error').textContent = '';
        $('error-box').hidden = true;
}

let noticeTimer = 0;
function notice(text) {
        $('notice').textContent = text;
        $('notice').hidden = false;
        clearTimeout(noticeTimer);
        noticeTimer = setTimeout(() => { $('notice').hidden = true; }, 6000);
}

// Every failure ends here: the problem's detail is shown; a refused token signs out.
function fail(e) {
        if (e?.name === 'AbortError') return;
        if (!(e instanceof ApiError)) console.error(e);
        if (e?.status === 401 && session()) {
                setToken('');
                render();
        }
        showError(e);
}

const ctx = {
        showError, clearError, notice, fail,
        // fn wrapped so that a rejection is shown instead of escaping.
        guard: (fn) => async (...args) => {
                try {
                        return await fn(...args);
                } catch (e) {
                        fail(e);
                        return undefined;
                }
        },
        // A click handler for `button`: clears the last error, disables the button while fn runs, shows a
        // failure (then calls onError(e)).
        action: (button, fn, onError) => async (ev) => {
                ev?.preventDefault?.();
                clearError();
                button.disabled = true;
                try {
                        await fn(ev);
                } catch (e) {
                        fail(e);
                        if (onError) await onError(e).catch(() => {});
                } finally {
                        button.disabled = false;
                }
        },
        signIn: (token) => {
                setToken(token);
                const role = session()?.role;
                const hash = role === 'store' ? '#/inbox' : role === 'rider' ? '#/deliveries' : '#/shop';
                if (location.hash !== hash) location.hash = hash; // hashchange renders
                else render();
        },
};

function render() {
        unmount();
        unmount = () => {};
        document.documentElement.lang = getLang();
        document.title = t('title');
        $('title').textContent = t('title');
        $('lang').textContent = t('langToggle');
        $('error-close').setAttribute('aria-label', t('dismiss'));
        const main = $('main');
        replace(main);
        let s = session();
        if (s && s.exp && s.exp * 1000 < Date.now()) {
                setToken('');
                s = null;
                showError(new ApiError(401, t('expired')));
        }
        $('signout').hidden = !s;
        $('signout').textContent = t('signOut');
        const roleKey = { customer: 'roleCustomer', store: 'roleStore', rider: 'roleRider', admin: 'roleAdmin' }[s?.role];
        $('who').textContent = s ? t('signedInAs', { sub: s.sub, role: roleKey ? t(roleKey) : s.role }) + (s.store_id ? ` · ${s.store_id}` : '') : '';
        document.body.dataset.role = s?.role || '';
        const route = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
        let stop;
        if (!s) stop = signin.mount(main, ctx);
        else if (s.role === 'customer') stop = customer.mount(main, ctx, route, s);
        else if (s.role === 'store') stop = store.mount(main, ctx, route, s);
        else if (s.role === 'rider') stop = rider.mount(main, ctx, route, s);
        else main.append(h('p', { class: 'panel' }, t('adminNoUi')));
        if (typeof stop === 'function') unmount = stop;
}

$('lang').addEventListener('click', () => {
        setLang(getLang() === 'ko' ? 'en' : 'ko');
        render();
});
$('signout').addEventListener('click', () => {
        setToken('');
        clearError();
        location.hash = '';
        render();
});
$('error-close').addEventListener('click', clearError);
window.addEventListener('hashchange', () => {
        clearError();
        render();
});
window.addEventListener('unhandledrejection', (e) => fail(e.reason));
render();
