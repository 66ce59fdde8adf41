import assert from "node:assert/strict";
import { AcceptLoop, type Acceptor } from "./accept_loop.ts";
import { configureLogging } from "./logging.ts";

/** A listener whose accepts are settled by the test, one at a time. */
class FakeListener implements Acceptor {
  closed = false;
  #next?: PromiseWithResolvers<Deno.Conn>;
  accepts = 0;

  accept(): Promise<Deno.Conn> {
    this.accepts++;
    this.#next = Promise.withResolvers<Deno.Conn>();
    if (this.closed) {
      this.#next.reject(new Deno.errors.BadResource("closed"));
    }
    return this.#next.promise;
  }
  give(): void {
    this.#next?.resolve({} as Deno.Conn);
  }
  refuse(): void {
    this.#next?.reject(new Error("Too many open files (os error 24)"));
  }
  close(): void {
    this.closed = true;
    this.#next?.reject(new Deno.errors.BadResource("closed"));
  }
}

/** A loop over a fake listener, its warnings collected, stopped afterwards. */
async function withLoop(
  maxClients: number,
  open: { count: number },
  test: (
    listener: FakeListener,
    loop: AcceptLoop,
    messages: string[],
  ) => Promise<void>,
): Promise<void> {
  const messages: string[] = [];
  configureLogging({ level: "warn", sink: (e) => messages.push(e.message) });
  const listener = new FakeListener();
  const loop = new AcceptLoop(
    listener,
    maxClients,
    () => open.count,
    () => open.count++,
  );
  try {
    await test(listener, loop, messages);
  } finally {
    await loop.stop();
    configureLogging({ sink: null, level: "info" });
  }
}

const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("a refused accept is retried after a pause, logged once per burst", async () => {
  const open = { count: 0 };
  await withLoop(10, open, async (listener, _loop, messages) => {
    // Pauses of 10, 20 and 40 ms: each tick outlasts the pause before it.
    listener.refuse();
    await tick(30);
    assert.equal(listener.accepts, 2);
    listener.refuse();
    await tick(50);
    assert.equal(listener.accepts, 3);
    listener.refuse();
    await tick(80);
    assert.equal(listener.accepts, 4);
    listener.give();
    await tick();
    assert.equal(open.count, 1);
    assert.equal(messages.length, 2, messages.join("\n"));
    assert.match(messages[0], /^cannot accept connections \(Too many open/);
    assert.match(
      messages[1],
      /^accepting connections again after \d+ ms \(3 attempts refused\)$/,
    );
  });
});

Deno.test("at maxClients the loop waits until a connection closes", async () => {
  const open = { count: 0 };
  await withLoop(2, open, async (listener, loop, messages) => {
    listener.give();
    await tick();
    listener.give();
    await tick();
    assert.equal(open.count, 2);
    assert.equal(listener.accepts, 2, "no third accept while full");
    assert.deepEqual(messages, [
      "2 connections open, the maximum (maxClients): new clients wait in the listen backlog",
    ]);
    open.count--;
    loop.roomMade();
    await tick();
    assert.equal(listener.accepts, 3);
  });
});

Deno.test("stop() closes the listener and ends a loop that waits for room", async () => {
  await withLoop(1, { count: 1 }, async (listener, loop) => {
    await loop.stop();
    assert.equal(listener.closed, true);
    assert.equal(listener.accepts, 0);
  });
});

Deno.test("the loop ends when its listener is closed from elsewhere", async () => {
  await withLoop(1, { count: 0 }, async (listener, loop) => {
    listener.close();
    await loop.finished;
  });
});
