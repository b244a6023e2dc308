// A minimal protobuf writer and reader for tests that forge or read messages of proto/food.proto by field
// number (no generated code on the Node side).
export function varint(n) {
        let v = BigInt(n);
        if (v < 0n) v += 1n << 64n; // int64 negative: ten bytes, as protobuf does
        const out = [];
        while (v >= 0x80n) {
                out.push(Number(v & 0x7fn) | 0x80);
                v >>= 7n;
        }
        out.push(Number(v));
        return Buffer.from(out);
}
export const tag = (no, wire) => varint((no << 3) | wire);
export const bytesField = (no, b) => Buffer.concat([tag(no, 2), varint(b.length), b]);
export const str = (no, s) => bytesField(no, Buffer.from(s));
export const int = (no, n) => Buffer.concat([tag(no, 0), varint(n)]);
export const pb = (...fields) => Buffer.concat(fields.filter(Boolean));
export const dbl = (no, x) => {
        const b = Buffer.alloc(8);
        b.writeDoubleLE(x);
        return Buffer.concat([tag(no, 1), b]);
};

// The fields of `buf` in order: [{no, wire, value}],
// value a Number (varint or double), or a Buffer (length-delimited). Throws on fixed32 and groups, which
// food.proto does not use.
export function fields(buf) {
        const out = [];
        let i = 0;
        const next = () => {
                let v = 0, shift = 0, b;
                do {
                        if (i >= buf.length) throw new Error('truncated varint');
                        b = buf[i++];
                        v += (b & 0x7f) * 2 ** shift;
                        shift += 7;
                } while (b & 0x80);
                return v;
        };
        while (i < buf.length) {
                const key = next();
                const no = Math.floor(key / 8), wire = key % 8;
                if (wire === 0) out.push({ no, wire, value: next() });
                else if (wire === 1) {
                        if (i + 8 > buf.length) throw new Error('truncated double');
                        out.push({ no, wire, value: buf.readDoubleLE(i) });
                        i += 8;
                }
                else if (wire === 2) {
                        const len = next();
                        out.push({ no, wire, value: buf.subarray(i, i + len) });
                        i += len;
                } else throw new Error(`wire type ${wire} not read here`);
        }
        return out;
}

// The first field `no` of `buf` (a Buffer, a Number, or undefined); as text when `text`.
export function field(buf, no, text = false) {
        const f = fields(buf).find((x) => x.no === no);
        return f && text ? f.value.toString() : f?.value;
}
