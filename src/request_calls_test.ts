import assert from "node:assert/strict";
import type { MountSpec } from "./config.ts";
import type { Interpreter } from "./interpreter_startup.ts";
import {
  ApplicationError,
  type LoadedApplication,
  RequestCalls,
} from "./request_calls.ts";

/** A head as the bridge packs it: "1" when the response ends with it. */
function packed(statusLine: string, done: boolean): string {
  const fields = `${done ? 1 : 0}${statusLine}\0Content-Type\0text/plain`;
  return `${fields.length}:${fields}`;
}

/** Python's calls, played by JavaScript: each call is recorded. */
function fakeApplication(
  calls: string[],
  answers: { begin?: () => unknown; resume?: () => unknown } = {},
): LoadedApplication {
  const call = (name: string, answer?: () => unknown) => ({
    callPromising: (id: number) => {
      calls.push(`${name} ${id}`);
      return Promise.resolve().then(answer);
    },
  });
  const interpreter = {
    begin: call("begin", answers.begin ?? (() => packed("200 OK", false))),
    resume: call("resume", answers.resume ?? (() => [undefined, true])),
    finish: call("finish", () => {
      throw new Error("close() raised");
    }),
    abort: (id: number) => calls.push(`abort ${id}`),
  } as unknown as Interpreter;
  const spec = { prefix: "/app", scriptPath: "/srv/app.wsgi" } as MountSpec;
  return {
    spec,
    interpreter,
    application: {} as LoadedApplication["application"],
  };
}

/** RequestCalls with what it logs and which mounts it says run. */
function recorded() {
  const log: string[] = [];
  const running: string[] = [];
  const requests = new RequestCalls(
    (level, message, mount) => log.push(`${level} ${mount} ${message}`),
    (mount) => running.push(mount),
  );
  return { log, running, requests };
}

Deno.test("a request is in flight from its begin to its last chunk", async () => {
  const { running, requests } = recorded();
  const made: string[] = [];
  const app = fakeApplication(made);
  const head = await requests.begin(app, 1, "cgi", { kind: "none" });
  const { status, statusText, done } = head;
  assert.deepEqual({ status, statusText, done }, {
    status: 200,
    statusText: "OK",
    done: false,
  });
  assert.equal(requests.size, 1);
  assert.deepEqual(await requests.next(1), { chunk: undefined, done: true });
  assert.equal(requests.size, 0);
  assert.deepEqual(await requests.next(1), { done: true }, "an unknown id");
  const whole = fakeApplication(made, {
    begin: () => packed("204 No Content", true),
  });
  assert.equal(
    (await requests.begin(whole, 2, "cgi", { kind: "none" })).done,
    true,
  );
  assert.equal(requests.size, 0, "a response whole in its head");
  assert.deepEqual(made, ["begin 1", "resume 1", "begin 2"]);
  assert.deepEqual(
    running,
    ["/app", "/app", "/app"],
    "tags what Python prints",
  );
});

Deno.test("a failure is logged under its heading and forgets the request", async () => {
  const { log, requests } = recorded();
  const fatal = Object.assign(new Error("Traceback: boom\n"), {
    pyodide_fatal_error: true,
  });
  const failing = fakeApplication([], {
    begin: () => {
      throw fatal;
    },
  });
  const error = await requests.begin(failing, 1, "cgi", { kind: "none" })
    .catch((error) => error);
  assert.ok(error instanceof ApplicationError);
  assert.equal(error.loading, false);
  assert.equal(error.fatal, true);
  assert.equal(
    error.message,
    "Exception occurred processing WSGI script /srv/app.wsgi:\nTraceback: boom",
  );
  assert.deepEqual(log, [`error /app ${error.message}`]);
  assert.equal(requests.size, 0);
  const streaming = fakeApplication([], {
    resume: () => {
      throw new Error("in the generator");
    },
  });
  await requests.begin(streaming, 2, "cgi", { kind: "none" });
  await assert.rejects(requests.next(2), /while streaming the response/);
  assert.equal(requests.size, 0);
});

Deno.test("close and abort reach only requests in flight", async () => {
  const { log, requests } = recorded();
  const made: string[] = [];
  const app = fakeApplication(made);
  await requests.close(1);
  requests.abort(1);
  await requests.begin(app, 1, "cgi", { kind: "none" });
  requests.abort(1);
  await requests.close(1);
  await requests.close(1);
  assert.deepEqual(made, ["begin 1", "abort 1", "finish 1"]);
  assert.match(log[0], /^error \/app Exception while closing the response/);
  await requests.begin(app, 2, "cgi", { kind: "none" });
  requests.dropAll();
  assert.equal(requests.size, 0);
});
