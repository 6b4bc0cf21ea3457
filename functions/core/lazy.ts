/**
 * A value built on its first use, then kept. A Lambda's cold start pays only for what its first request
 * needs: a route's zod schemas are built when it validates its first request, and the answer schemas
 * (read by the OpenAPI generator and the types only) are never built in a Lambda at all.
 *
 * A module-level `lazy(...)` is written `/* @__PURE__ *\/ lazy(...)`: esbuild keeps every top-level call
 * it cannot prove free of side effects, so without the mark each bundle would carry every schema of the
 * module (a function's import time grows with its bundle's size: bench/README.md, "Cold start").
 */
export function lazy<T>(build: () => T): () => T {
  let built: { value: T } | undefined;
  return function lazyValue() {
    built ??= { value: build() };
    return built.value;
  };
}
