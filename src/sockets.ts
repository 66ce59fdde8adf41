/**
 * TCP and TLS client sockets for Python: the `connect()` that Pyodide's
 * NodeSockFS calls when Python's `socket` connects. Built on `node:net` and
 * `node:tls`, so Deno's own `--allow-net` has the last word; on top of that
 * a group's `allowNet` list is checked here, before any packet leaves.
 *
 * Pyodide reports every failed connect as ECONNREFUSED and its TLS upgrade
 * neither verifies certificates nor waits for the handshake. So each socket
 * remembers why it failed, and the TLS upgrade takes Python's SSLContext
 * settings (see python/network.py, which turns both into the exceptions
 * CPython raises).
 *
 * @module
 */

import { lookup } from "node:dns/promises";
import net from "node:net";
import tls from "node:tls";
import { Duplex } from "node:stream";

/** Why a connect or a TLS handshake failed, as Python should hear it. */
export interface SocketFailure {
  /** "denied" (allowNet or Deno), "dns", "timeout", "refused", "tls", "verify". */
  kind: string;
  message: string;
}

/** What Python's SSLContext asked for, handed over before the upgrade. */
export interface TlsRequest {
  /** `server_hostname`: SNI and the name the certificate must match. */
  hostname?: string;
  /** PEM text of the CAs to trust instead of the default store. */
  ca?: string;
  /** False for `CERT_NONE`. */
  verify: boolean;
  /** False when `check_hostname` is off. */
  checkHostname: boolean;
}

/** The WinterCG socket shape NodeSockFS expects, plus what we remember. */
export class ClientSocket {
  readable!: ReadableStream<Uint8Array>;
  writable!: WritableStream<Uint8Array>;
  readonly opened: Promise<{ remoteAddress?: string; localAddress?: string }>;
  readonly closed: Promise<void>;
  /** Set when the connect failed: read by python/network.py. */
  failure?: SocketFailure;
  /** Set by python/network.py just before the upgrade. */
  tlsRequest?: TlsRequest;
  /** Settles when the TLS handshake is over: undefined, or why it failed. */
  handshake?: Promise<SocketFailure | undefined>;
  readonly #socket: net.Socket;
  readonly #address: { hostname: string; port: number };
  #closedResolve!: () => void;

  constructor(
    socket: net.Socket,
    address: { hostname: string; port: number },
    connected: Promise<void>,
  ) {
    this.#socket = socket;
    this.#address = address;
    this.closed = new Promise((resolve) => {
      this.#closedResolve = resolve;
    });
    socket.on("close", () => this.#closedResolve());
    socket.on("error", () => {});
    this.opened = connected.then(() => ({
      remoteAddress: socket.remoteAddress,
      localAddress: socket.localAddress,
    }));
    this.opened.catch(() => {});
    this.#attachStreams(socket);
  }

  #attachStreams(socket: net.Socket): void {
    const { readable, writable } = Duplex.toWeb(socket);
    this.readable = readable as ReadableStream<Uint8Array>;
    this.writable = writable as WritableStream<Uint8Array>;
  }

  close(): Promise<void> {
    this.#socket.destroy();
    this.#closedResolve();
    return this.closed;
  }

  /** Closes the connection at once, e.g. when its request timed out. */
  abort(): void {
    this.#socket.destroy();
  }

  /** Upgrades the connection with what python/network.py asked for. */
  startTls(): ClientSocket {
    const request = this.tlsRequest ?? { verify: true, checkHostname: true };
    const hostname = request.hostname ?? this.#address.hostname;
    const options: tls.ConnectionOptions = {
      socket: this.#socket,
      host: hostname,
      rejectUnauthorized: request.verify,
    };
    // SNI carries names, never addresses.
    if (!net.isIP(hostname)) options.servername = hostname;
    if (request.ca) options.ca = request.ca;
    if (request.verify && !request.checkHostname) {
      options.checkServerIdentity = () => undefined;
    }
    const secure = tls.connect(options);
    const upgraded = new ClientSocket(
      secure,
      this.#address,
      new Promise((resolve, reject) => {
        secure.once("secureConnect", () => resolve());
        secure.once("error", reject);
      }),
    );
    upgraded.handshake = upgraded.opened.then(
      () => undefined,
      (error) => tlsFailure(error),
    );
    return upgraded;
  }
}

const VERIFY_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_UNTRUSTED",
  "CERT_REVOKED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "HOSTNAME_MISMATCH",
]);

function tlsFailure(error: unknown): SocketFailure {
  const code = (error as { code?: string })?.code ?? "";
  const message = (error as Error)?.message ?? String(error);
  const isVerify = VERIFY_CODES.has(code) ||
    /certificate|self.signed|issuer/i.test(message);
  return { kind: isVerify ? "verify" : "tls", message };
}

function connectFailure(error: unknown, target: string): SocketFailure {
  const code = (error as { code?: string })?.code ?? "";
  const message = (error as Error)?.message ?? String(error);
  if (error instanceof Deno.errors.NotCapable || code === "ERR_ACCESS_DENIED") {
    return {
      kind: "denied",
      message:
        `Deno's permissions do not allow connecting to ${target}: start the server (or the group's process worker) with --allow-net=${target} (${message})`,
    };
  }
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_NONAME") {
    return { kind: "dns", message: `Name or service not known: ${target}` };
  }
  if (code === "ETIMEDOUT") return { kind: "timeout", message: "timed out" };
  return {
    kind: "refused",
    message: message.includes(target) ? message : `${message} (${target})`,
  };
}

/** Parses allowNet entries: "host", "host:port", "[v6]:port" or "*". */
function allows(
  allowNet: string[],
  hostname: string,
  port: number,
): boolean {
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, "");
  for (const entry of allowNet) {
    if (entry === "*") return true;
    const match = entry.match(/^\[?([^\]]*?)\]?(?::(\d+))?$/);
    if (!match) continue;
    const [, allowedHost, allowedPort] = match;
    if (allowedHost.toLowerCase() !== host && allowedHost !== "*") continue;
    if (allowedPort === undefined || Number(allowedPort) === port) return true;
  }
  return false;
}

/** Options of `createConnect()`. */
export interface ConnectOptions {
  /** Hosts Python may reach, in `--allow-net` form; undefined: any. */
  allowNet?: string[];
}

/**
 * A connect function for `pyodide.useNodeSockFS({ connect })`. Python sets
 * the next connect's timeout through `setNextTimeout()` just before it
 * connects (Pyodide's connect blocks, ignoring the socket's timeout).
 */
export function createConnect(options: ConnectOptions = {}): {
  connect: (address: { hostname: string; port: number }) => ClientSocket;
  setNextTimeout: (seconds: number | null) => void;
  /** Closes every connection still open (its interpreter is discarded). */
  closeAll: () => void;
} {
  let nextTimeout: number | null = null;
  const open = new Set<net.Socket>();
  const connect = (address: { hostname: string; port: number }) => {
    const timeout = nextTimeout;
    nextTimeout = null;
    const target = `${address.hostname}:${address.port}`;
    const { allowNet } = options;
    if (allowNet && !allows(allowNet, address.hostname, address.port)) {
      const socket = new net.Socket();
      const refused = new ClientSocket(
        socket,
        address,
        Promise.reject(new Error("not allowed")),
      );
      refused.failure = {
        kind: "denied",
        message:
          `connecting to ${target} is not allowed by the group's allowNet option (${
            JSON.stringify(allowNet)
          }); add "${target}" to it`,
      };
      return refused;
    }
    let socket: net.Socket;
    let connected: Promise<void>;
    try {
      socket = net.connect({ host: address.hostname, port: address.port });
      connected = new Promise<void>((resolve, reject) => {
        socket.once("connect", () => resolve());
        socket.once("error", reject);
        if (timeout !== null && timeout > 0) {
          const timer = setTimeout(() => {
            const error = Object.assign(new Error("timed out"), {
              code: "ETIMEDOUT",
            });
            socket.destroy();
            reject(error);
          }, timeout * 1000);
          const clear = () => clearTimeout(timer);
          socket.once("connect", clear);
          socket.once("error", clear);
          socket.once("close", clear);
        }
      });
    } catch (error) {
      socket = new net.Socket();
      connected = Promise.reject(error);
    }
    open.add(socket);
    socket.once("close", () => open.delete(socket));
    const client = new ClientSocket(socket, address, connected);
    client.opened.catch((error) => {
      client.failure = connectFailure(error, target);
    });
    return client;
  };
  return {
    connect,
    setNextTimeout: (seconds) => {
      nextTimeout = seconds;
    },
    closeAll: () => {
      for (const socket of open) socket.destroy();
      open.clear();
    },
  };
}

/** True unless the name certainly does not resolve (python/network.py). */
export async function resolves(name: string): Promise<boolean> {
  try {
    await lookup(name);
    return true;
  } catch (error) {
    const code = (error as { code?: string }).code;
    return !(code === "ENOTFOUND" || code === "EAI_NONAME" ||
      code === "ENODATA" || code === "EAI_FAIL");
  }
}
