// The public HTTP API of SPEC §4 (openapi.yaml), and the signed-in session (token kept per tab).
import { t } from './i18n.js';

// Relative to the page, so the UI also works behind an ingress path prefix.
const BASE = new URL('.', location.href);

export function apiUrl(path) {
        return new URL(path.replace(/^\//, ''), BASE).toString();
}

// An answer other than 2xx: status (0 when the gateway was not reached), the problem's detail and title.
export class ApiError extends Error {
        constructor(status, detail, title = '', retryAfter = null) {
                super(detail);
                this.status = status;
                this.detail = detail;
                this.title = title;
                this.retryAfter = retryAfter;
        }
}

const TOKEN_KEY = 'food.token';
let token = sessionStorage.getItem(TOKEN_KEY) || '';

// The claims of a JWT, read without checking the signature (the gateway checks it): {sub, role, store_id, exp}
// or null when it is not a JWT with a string sub and a role.
export function decodeToken(tok) {
        const parts = String(tok || '').trim().split('.');
        if (parts.length !== 3) return null;
        try {
                const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
                const json = decodeURIComponent(escape(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4))));
                const c = JSON.parse(json);
                if (typeof c.sub !== 'string' || typeof c.role !== 'string') return null;
                return c;
        } catch {
                return null;
        }
}

export function session() {
        const claims = token ? decodeToken(token) : null;
        return claims ? { token, ...claims } : null;
}

export function setToken(tok) {
        token = String(tok || '').trim();
        if (token) sessionStorage.setItem(TOKEN_KEY, token);
        else sessionStorage.removeItem(TOKEN_KEY);
}

export function authHeaders() {
        return token ? { Authorization: `Bearer ${token}` } : {};
}

// Turns a non-2xx answer into an ApiError with the problem+json detail (or the status line).
export async function problemOf(res) {
        let body = null;
        try {
                body = await res.json();
        } catch { /* not JSON */ }
        const detail = (body && typeof body.detail === 'string' && body.detail) || `${res.status} ${res.statusText}`;
        return new ApiError(res.status, detail, body?.title || '', res.headers.get('Retry-After'));
}

// Calls the API; resolves to the parsed JSON answer (null when empty), rejects with ApiError.
export async function api(method, path, { body, headers = {}, signal, auth = true } = {}) {
        const h = { Accept: 'application/json', ...(auth ? authHeaders() : {}), ...headers };
        const init = { method, headers: h, signal, cache: 'no-store' };
        if (body !== undefined) {
                h['Content-Type'] = 'application/json';
                init.body = JSON.stringify(body);
        }
        let res;
        try {
                res = await fetch(apiUrl(path), init);
        } catch (e) {
                if (e.name === 'AbortError') throw e;
                throw new ApiError(0, t('networkError', { what: `${method} ${path}` }));
        }
        if (!res.ok) throw await problemOf(res);
        const text = await res.text();
        return text ? JSON.parse(text) : null;
}
