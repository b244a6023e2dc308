// Tiny DOM helpers: elements are built with h(), never from HTML strings, so API data can never become markup.

// h('button', {class: 'x', testid: 'pick', dataset: {orderId}, onclick}, 'text', child, [more]) -> element.
// Attributes: class, testid (data-testid), dataset, on<event> handlers, boolean/property values, else attributes.
export function h(tag, attrs, ...children) {
        const el = document.createElement(tag);
        for (const [k, v] of Object.entries(attrs || {})) {
                if (v === undefined || v === null || v === false) continue;
                if (k === 'class') el.className = v;
                else if (k === 'testid') el.dataset.testid = v;
                else if (k === 'dataset') Object.assign(el.dataset, v);
                else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
                else if (k === 'value' || k === 'checked' || k === 'selected' || k === 'disabled') el[k] = v;
                else el.setAttribute(k, v === true ? '' : String(v));
        }
        append(el, children);
        return el;
}

function append(el, children) {
        for (const c of children) {
                if (c === undefined || c === null || c === false) continue;
                if (Array.isArray(c)) append(el, c);
                else if (c instanceof Node) el.appendChild(c);
                else el.appendChild(document.createTextNode(String(c)));
        }
}

// Replaces the children of `el`.
export function replace(el, ...children) {
        el.replaceChildren();
        append(el, children);
        return el;
}

// A random UUID, also outside a secure context (plain http on a LAN), where crypto.randomUUID is missing.
export function uuid() {
        if (crypto.randomUUID) return crypto.randomUUID();
        const b = crypto.getRandomValues(new Uint8Array(16));
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        const x = [...b].map((v) => v.toString(16).padStart(2, '0')).join('');
        return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

// Calls fn() now and then every `ms` after each call settles, until the returned stop() is called. fn gets
// the stop flag's holder so that a slow answer arriving after stop() can be ignored.
export function poll(fn, ms) {
        const state = { stopped: false, timer: 0 };
        const tick = async () => {
                if (state.stopped) return;
                try {
                        await fn(state);
                } catch (e) {
                        console.warn('poll:', e); // fn shows what the user must see; keep polling
                } finally {
                        if (!state.stopped) state.timer = setTimeout(tick, ms);
                }
        };
        tick();
        return () => {
                state.stopped = true;
                clearTimeout(state.timer);
        };
}
