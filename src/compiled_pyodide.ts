/**
 * Pyodide's WebAssembly (`pyodide.asm.wasm`, 9.6 MB) compiled once per
 * process and shared by every interpreter: V8 shares a compiled module's
 * code between the isolates it is posted to, while each compile of the
 * same bytes makes a copy (about 27 MiB per Web Worker, measured: see
 * README, Cold start). The server compiles it once and hands it to its
 * Web Workers in their `init` message; an isolate that got none (a child
 * process, embedded mode) compiles it once for all its interpreters.
 *
 * Pyodide has no option that takes a compiled module: it reads the file
 * and calls `WebAssembly.instantiate(bytes, imports)` itself, after adding
 * imports of its own. So `shareCompiledPyodide` makes that one call, for
 * exactly these bytes, instantiate the compiled module instead.
 *
 * @module
 */

/** The compiled module, with what recognizes its bytes. */
export interface CompiledPyodide {
  module: WebAssembly.Module;
  byteLength: number;
  /** The file's first bytes. */
  head: Uint8Array;
}

const HEAD = 4096;

/**
 * Pyodide's folder as this isolate resolves it (a path ending in "/"), or
 * undefined when it is not a local file. The server passes its own to its
 * workers: a child process may resolve npm packages elsewhere (another
 * deno.json, or none), and must read the folder its permissions name.
 */
export function pyodideFolder(): string | undefined {
  try {
    const url = new URL(
      ".",
      import.meta.resolve("npm:pyodide@314.0.7/pyodide.asm.mjs"),
    );
    return url.protocol === "file:"
      ? decodeURIComponent(url.pathname)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Undefined: not compiled yet; null: cannot be (Pyodide compiles as usual). */
let compiled: CompiledPyodide | null | undefined;

/**
 * Pyodide's module, compiled on first use in this isolate (about 50 ms;
 * compilation is lazy, functions are compiled as they first run).
 * Undefined when the file cannot be read from here.
 */
export function compiledPyodide(
  folder: string | undefined = pyodideFolder(),
): CompiledPyodide | undefined {
  if (compiled === undefined) {
    try {
      if (!folder) throw new Error("not a local file");
      const bytes = Deno.readFileSync(`${folder}pyodide.asm.wasm`);
      compiled = {
        module: new WebAssembly.Module(bytes),
        byteLength: bytes.length,
        head: bytes.slice(0, HEAD),
      };
    } catch {
      compiled = null;
    }
  }
  return compiled ?? undefined;
}

/** Uses a module another isolate compiled (a Web Worker gets the server's). */
export function adoptCompiledPyodide(code: CompiledPyodide | undefined): void {
  if (code && !compiled) compiled = code;
}

function isPyodide(source: unknown, code: CompiledPyodide): boolean {
  if (!ArrayBuffer.isView(source) && !(source instanceof ArrayBuffer)) {
    return false;
  }
  const bytes = ArrayBuffer.isView(source)
    ? new Uint8Array(source.buffer, source.byteOffset, source.byteLength)
    : new Uint8Array(source);
  if (bytes.length !== code.byteLength) return false;
  for (let i = 0; i < code.head.length; i++) {
    if (bytes[i] !== code.head[i]) return false;
  }
  return true;
}

let shared = false;

/**
 * From now on, Pyodide's instantiation of its own bytes in this isolate
 * uses the compiled module; any other instantiation is left alone.
 */
export function shareCompiledPyodide(folder?: string): void {
  if (shared) return;
  const code = compiledPyodide(folder);
  if (!code) return;
  shared = true;
  const instantiate = WebAssembly.instantiate;
  const replacement = (source: unknown, imports?: WebAssembly.Imports) =>
    isPyodide(source, code)
      ? instantiate(code.module, imports).then((instance) => ({
        module: code.module,
        instance,
      }))
      : (instantiate as (s: unknown, i?: WebAssembly.Imports) => unknown)(
        source,
        imports,
      );
  WebAssembly.instantiate = replacement as typeof WebAssembly.instantiate;
}
