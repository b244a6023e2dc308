// Two riders pick the same delivery at the same moment, ten times: exactly one gets 200, the other 409.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPlatform } from '../harness.mjs';
import { catalog, cookedOrder, expectProblem, show, waitDelivery, waitStatus } from '../flows.mjs';

const ROUNDS = 10;

describe('pick race', () => {
        let p, store, customer, owner, riders;

        before(async () => {
                p = await startPlatform({ name: 'pick-race' });
                store = (await catalog(p)).find((s) => s.menu.length >= 2);
                customer = await p.token('cust_race', 'customer');
                owner = await p.token(`owner_${store.id}`, 'store', store.id);
                riders = [['rider_a', await p.token('rider_a', 'rider')], ['rider_b', await p.token('rider_b', 'rider')]];
        });
        after(async () => { await p?.stop(); });

        for (let round = 1; round <= ROUNDS; round++) {
                it(`round ${round}: exactly one of two concurrent picks wins`, async () => {
                        const o = await cookedOrder(p, { customer, owner, store, lines: [[store.menu[0], round]] });
                        const d = await waitDelivery(p, riders[0][1], o.id, store.region);
                        await waitDelivery(p, riders[1][1], o.id, store.region);
                        // Alternate who sends first so that neither rider always wins by ordering alone.
                        const order = round % 2 ? riders : [...riders].reverse();
                        const answers = await Promise.all(order.map(([, t]) => p.api('POST', `/deliveries/${d.id}/pick`, { token: t })));
                        const statuses = answers.map((r) => r.status).sort();
                        assert.deepEqual(statuses, [200, 409], `pick answers: ${answers.map(show).join(' | ')}`);
                        const loser = answers.find((r) => r.status === 409);
                        expectProblem(loser, 409, 'the losing pick');
                        const winner = order[answers.findIndex((r) => r.status === 200)][0];
                        const view = await waitStatus(p, customer, o.id, 'PICKED_UP');
                        assert.equal(view.rider_id, winner, 'rider_id of the order is the winner');
                        // The loser cannot mark it delivered either.
                        const lt = order[answers.findIndex((r) => r.status === 409)][1];
                        const r = await p.api('POST', `/deliveries/${d.id}/delivered`, { token: lt });
                        assert.ok([403, 404].includes(r.status), `delivered by the losing rider: expected 403/404, got ${show(r)}`);
                });
        }
});
