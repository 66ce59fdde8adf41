/**
 * A tiny browser for the framework tests: fetch() with a cookie jar, and
 * redirects left to the test (so that it can check each Location).
 *
 * @module
 */

/** A cookie as the server set it. */
export interface Cookie {
  name: string;
  value: string;
  /** The attributes, names lower-cased ("path", "httponly", ...). */
  attributes: Record<string, string>;
}

/** Parses one Set-Cookie header value. */
export function parseSetCookie(header: string): Cookie {
  const [pair, ...rest] = header.split(";");
  const equals = pair.indexOf("=");
  const attributes: Record<string, string> = {};
  for (const part of rest) {
    const [key, ...value] = part.trim().split("=");
    if (key) attributes[key.toLowerCase()] = value.join("=");
  }
  return {
    name: pair.slice(0, equals).trim(),
    value: pair.slice(equals + 1).trim(),
    attributes,
  };
}

/**
 * Sends requests to one server, keeping its cookies like a browser does
 * (expired ones are dropped). Redirects are not followed.
 *
 * @example
 * ```ts ignore
 * const browser = new Browser("http://127.0.0.1:8000");
 * const login = await browser.post("/app/login", new URLSearchParams({ user: "ann" }));
 * const me = await (await browser.get("/app/api/whoami")).json();
 * ```
 */
export class Browser {
  /** The server's origin, like "http://127.0.0.1:8000". */
  readonly base: string;
  /** The cookies in the jar, by name. */
  readonly cookies: Map<string, Cookie> = new Map();

  constructor(base: string) {
    this.base = base;
  }

  /** Sends a request with the jar's cookies and stores the ones set. */
  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size > 0 && !headers.has("cookie")) {
      headers.set(
        "cookie",
        [...this.cookies.values()].map((c) => `${c.name}=${c.value}`).join(
          "; ",
        ),
      );
    }
    const response = await fetch(`${this.base}${path}`, {
      ...init,
      headers,
      redirect: "manual",
    });
    for (const header of response.headers.getSetCookie()) {
      const cookie = parseSetCookie(header);
      const expires = cookie.attributes["expires"];
      if (
        cookie.attributes["max-age"] === "0" ||
        (expires && Date.parse(expires) < Date.now())
      ) {
        this.cookies.delete(cookie.name);
      } else {
        this.cookies.set(cookie.name, cookie);
      }
    }
    return response;
  }

  /** GET with the jar's cookies. */
  get(path: string, init: RequestInit = {}): Promise<Response> {
    return this.fetch(path, { ...init, method: "GET" });
  }

  /** POST a form, FormData, JSON text or bytes with the jar's cookies. */
  post(
    path: string,
    body: BodyInit,
    init: RequestInit = {},
  ): Promise<Response> {
    return this.fetch(path, { ...init, method: "POST", body });
  }
}
