import assert from "node:assert/strict";
import { errorResponse, reasonPhrase } from "./responses.ts";

Deno.test("responses: one status table gives every error its standard reason", async () => {
  assert.equal(reasonPhrase(404), "Not Found");
  assert.equal(reasonPhrase(412), "Precondition Failed");
  assert.equal(reasonPhrase(599), "Unknown");
  const response = errorResponse(503, { headers: { "retry-after": "1" } });
  assert.equal(response.status, 503);
  assert.equal(response.statusText, "Service Unavailable");
  assert.equal(response.headers.get("retry-after"), "1");
  assert.equal(
    response.headers.get("content-type"),
    "text/plain; charset=utf-8",
  );
  assert.equal(await response.text(), "503 Service Unavailable\n");
});

Deno.test("responses: a HEAD gets the error's headers without a body", async () => {
  const response = errorResponse(405, {
    headers: new Headers({ allow: "GET, HEAD", "content-type": "text/html" }),
    method: "HEAD",
  });
  assert.equal(response.headers.get("allow"), "GET, HEAD");
  // The body's type is the error's own, whatever the headers passed in say.
  assert.equal(
    response.headers.get("content-type"),
    "text/plain; charset=utf-8",
  );
  assert.equal(response.body, null);
  assert.equal(await errorResponse(400).text(), "400 Bad Request\n");
});
