// Follows an order live: GET /orders/{id}/events (text/event-stream). EventSource cannot send the Authorization
// header, so the stream is read with fetch() and parsed here (WHATWG "server-sent events" rules), reconnecting
// with Last-Event-ID after the stream ends or breaks until the gateway answers 204 (nothing more can come).
import { apiUrl, authHeaders, problemOf } from './api.js';

const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 10_000;

// Splits text into events; returns the unparsed tail. Calls onEvent({id, event, data}) per complete event.
export function parseSse(buffer, state, onEvent) {
        let pos = 0;
        for (;;) {
                const nl = buffer.slice(pos).search(/\r\n|\r|\n/);
                if (nl < 0) break;
                const end = pos + nl;
                // A lone \r at the very end may be the first half of \r\n: wait for more.
                if (buffer[end] === '\r' && end + 1 === buffer.length) break;
                const line = buffer.slice(pos, end);
                pos = end + (buffer.startsWith('\r\n', end) ? 2 : 1);
                if (line === '') {
                        if (state.data.length) {
                                if (state.id !== null) state.lastId = state.id;
                                onEvent({ id: state.lastId, event: state.event || 'message', data: state.data.join('\n') });
                        }
                        state.data = [];
                        state.event = '';
                        state.id = null;
                        continue;
                }
                if (line.startsWith(':')) continue; // comment (keep-alive)
                const colon = line.indexOf(':');
                const field = colon < 0 ? line : line.slice(0, colon);
                let value = colon < 0 ? '' : line.slice(colon + 1);
                if (value.startsWith(' ')) value = value.slice(1);
                if (field === 'data') state.data.push(value);
                else if (field === 'event') state.event = value;
                else if (field === 'id' && !value.includes('\0')) state.id = value;
                else if (field === 'retry' && /^\d+$/.test(value)) state.retry = Number(value);
        }
        return buffer.slice(pos);
}

// Follows order `id`: onView(view) per status event, onState('live'|'closed'|'reconnecting'|'ended'), onProblem(ApiError)
// when the gateway refuses the stream (then it stops). Returns stop().
export function followOrder(id, { onView, onState = () => {}, onProblem = () => {} }) {
        let stopped = false;
        let ctrl = null;
        let lastId = '';
        let delay = RETRY_MIN_MS;

        const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

        (async () => {
                while (!stopped) {
                        ctrl = new AbortController();
                        const headers = { Accept: 'text/event-stream', ...authHeaders() };
                        if (lastId) headers['Last-Event-ID'] = lastId;
                        let res;
                        try {
                                res = await fetch(apiUrl(`/orders/${encodeURIComponent(id)}/events`), {
                                        headers, signal: ctrl.signal, cache: 'no-store',
                                });
                        } catch {
                                if (stopped) return;
                                onState('reconnecting');
                                await wait(delay);
                                delay = Math.min(delay * 2, RETRY_MAX_MS);
                                continue;
                        }
                        if (res.status === 204) {
                                onState('ended');
                                return;
                        }
                        if (!res.ok) {
                                const problem = await problemOf(res);
                                if (res.status >= 500 || res.status === 429) {
                                        // Busy (SSE_MAX_STREAMS) or down for a moment: come back later.
                                        onState('reconnecting');
                                        const ra = Number(problem.retryAfter);
                                        await wait(Number.isFinite(ra) && ra > 0 ? ra * 1000 : delay);
                                        delay = Math.min(delay * 2, RETRY_MAX_MS);
                                        continue;
                                }
                                onProblem(problem);
                                onState('ended');
                                return;
                        }
                        onState('live');
                        const state = { data: [], event: '', id: null, lastId, retry: null };
                        const reader = res.body.getReader();
                        const decoder = new TextDecoder();
                        let buffer = '';
                        let broke = false;
                        try {
                                for (;;) {
                                        const { value, done } = await reader.read();
                                        if (done) break;
                                        buffer = parseSse(buffer + decoder.decode(value, { stream: true }), state, (ev) => {
                                                lastId = ev.id || lastId;
                                                delay = RETRY_MIN_MS;
                                                if (ev.event !== 'status') return;
                                                try {
                                                        onView(JSON.parse(ev.data));
                                                } catch (e) {
                                                        console.warn('sse: bad event data', e);
                                                }
                                        });
                                }
                        } catch {
                                broke = true; // broken stream or stop(): reconnect below unless stopped
                        }
                        if (stopped) return;
                        if (state.retry !== null) delay = Math.min(Math.max(state.retry, RETRY_MIN_MS), RETRY_MAX_MS);
                        // The gateway closes the stream once the order can change no more; the reconnect
                        // then gets 204. 'closed' until that answer, 'reconnecting' when the stream broke.
                        onState(broke ? 'reconnecting' : 'closed');
                        await wait(delay);
                }
        })();

        return () => {
                stopped = true;
                if (ctrl) ctrl.abort();
        };
}
