import assert from "node:assert/strict";
import {
  ConnectionClock,
  maxClientsFromLimits,
  resolveLimits,
  sweepInterval,
} from "./connection_limits.ts";

const limits = {
  headerTimeout: 15,
  keepAliveTimeout: 2,
  socketTimeout: 60,
  maxClients: 100,
};

Deno.test("a new connection has headerTimeout to send a whole head", () => {
  const clock = new ConnectionClock(limits, 1000);
  assert.equal(clock.expired(15_999), undefined);
  assert.equal(clock.expired(16_000), "header");
});

Deno.test("no deadline while a handler runs; socketTimeout while its response is sent, renewed by progress", () => {
  const clock = new ConnectionClock(limits, 0);
  clock.started();
  assert.equal(clock.expired(1e9), undefined);
  clock.answered(100_000);
  assert.equal(clock.expired(159_999), undefined);
  assert.equal(clock.expired(160_000), "socket");
  clock.progress(150_000);
  assert.equal(clock.expired(160_000), undefined);
  assert.equal(clock.expired(210_000), "socket");
});

Deno.test("after the last response, keepAliveTimeout until the next head", () => {
  const clock = new ConnectionClock(limits, 0);
  clock.started();
  clock.answered(10);
  assert.equal(clock.ended(20, true), true);
  assert.equal(clock.inFlight, 0);
  assert.equal(clock.expired(2019), undefined);
  assert.equal(clock.expired(2020), "keep-alive");
  // The next request arrived in time.
  clock.started();
  assert.equal(clock.expired(1e9), undefined);
});

Deno.test("HTTP/2: the connection is idle only when every stream has ended", () => {
  const clock = new ConnectionClock(limits, 0);
  clock.started();
  clock.started();
  clock.answered(5);
  assert.equal(clock.ended(6, true), false);
  // The other handler still runs: no deadline.
  assert.equal(clock.expired(1e9), undefined);
  clock.answered(7);
  assert.equal(clock.ended(8, true), true);
  assert.equal(clock.expiry, "keep-alive");
});

Deno.test("a handler that threw ends its request too", () => {
  const clock = new ConnectionClock(limits, 0);
  clock.started();
  assert.equal(clock.ended(50, false), true);
  assert.equal(clock.inFlight, 0);
});

Deno.test("0 turns headerTimeout and socketTimeout off", () => {
  const off = { ...limits, headerTimeout: 0, socketTimeout: 0 };
  const clock = new ConnectionClock(off, 0);
  assert.equal(clock.expired(1e12), undefined);
  clock.started();
  clock.answered(1);
  assert.equal(clock.expired(1e12), undefined);
});

Deno.test("maxClients defaults to 3/4 of the open-file limit, capped", () => {
  const limits = (soft: string) =>
    `Limit                     Soft Limit           Hard Limit           Units     \nMax open files            ${soft}                 524288               files     \n`;
  assert.equal(maxClientsFromLimits(limits("256")), 192);
  assert.equal(maxClientsFromLimits(limits("1024")), 768);
  assert.equal(maxClientsFromLimits(limits("1048576")), 10_000);
  assert.equal(maxClientsFromLimits(limits("unlimited")), 10_000);
  assert.equal(maxClientsFromLimits(undefined), 1_000);
});

Deno.test("limits are checked, naming the option", () => {
  assert.throws(
    () => resolveLimits("serve()", { headerTimeout: -1 }),
    (error: Error) =>
      error instanceof RangeError && /"headerTimeout"/.test(error.message),
  );
  assert.throws(
    () =>
      resolveLimits("serve()", {
        keepAliveTimeout: "2" as unknown as number,
      }),
    (error: Error) =>
      error instanceof TypeError && /"keepAliveTimeout"/.test(error.message),
  );
  assert.throws(
    () => resolveLimits("serve()", { maxClients: 0 }),
    (error: Error) =>
      error instanceof RangeError && /"maxClients"/.test(error.message),
  );
  assert.throws(
    () => resolveLimits("serve()", { idleTimeout: 5 } as never),
    (error: Error) =>
      error instanceof TypeError && /unknown option "idleTimeout"/.test(
        error.message,
      ),
  );
  const resolved = resolveLimits("serve()", { maxClients: 7 });
  assert.deepEqual(resolved, {
    headerTimeout: 15,
    keepAliveTimeout: 2,
    socketTimeout: 60,
    maxClients: 7,
  });
});

Deno.test("deadlines are looked at four times per shortest limit, 50 ms to 1 s", () => {
  assert.equal(sweepInterval(limits), 500);
  assert.equal(sweepInterval({ ...limits, keepAliveTimeout: 0.1 }), 50);
  assert.equal(sweepInterval({ ...limits, keepAliveTimeout: 10 }), 1000);
});
