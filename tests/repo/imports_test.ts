/**
 * The repository's own import graph has no cycle, so a reader can start at
 * any module and reach only what it builds on (issue 15: lib/cells.ts broke
 * the models <-> kernels circle). Type-only imports count: they are edges a
 * reader follows too.
 */
import { assert } from "../_assert.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const SKIP = new Set(["node_modules", ".git", "results", "docs", "wasm", ".gpu"]);

/** Every .ts and .js file of the repository, relative to its root. */
function sources(dir = ""): string[] {
  return [...Deno.readDirSync(`${ROOT}${dir}`)].flatMap((e) => {
    const path = dir ? `${dir}/${e.name}` : e.name;
    if (e.isDirectory) return SKIP.has(e.name) || e.name.startsWith(".") ? [] : sources(path);
    return /\.(ts|js)$/.test(e.name) ? [path] : [];
  });
}

/** The relative modules `path` imports or re-exports (comments, such as @example blocks, left out). */
export function importsOf(path: string, text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  return [...code.matchAll(/\b(?:import|export)\b[^;"]*?\bfrom\s+"(\.{1,2}\/[^"]+)"|\bimport\s+"(\.{1,2}\/[^"]+)"/g)]
    .map((m) => new URL(m[1] ?? m[2], `file:///${path}`).pathname.slice(1));
}

/** Every cycle found by a depth-first walk, each as the modules around it. */
export function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [], done = new Set<string>(), path: string[] = [];
  const visit = (n: string) => {
    if (path.includes(n)) return void found.push([...path.slice(path.indexOf(n)), n]);
    if (done.has(n)) return;
    path.push(n);
    for (const m of graph.get(n) ?? []) visit(m);
    path.pop();
    done.add(n);
  };
  for (const n of graph.keys()) visit(n);
  return found;
}

Deno.test("the cycle finder finds a cycle through type imports and ignores imports in comments", () => {
  const graph = new Map([
    ["a.ts", importsOf("a.ts", 'import type { B } from "./b.ts";\n/** @example\n * import { A } from "./a.ts";\n */')],
    ["b.ts", importsOf("b.ts", 'export { A } from "./a.ts";')],
  ]);
  assert.deepEqual(cycles(graph), [["a.ts", "b.ts", "a.ts"]]);
  assert.deepEqual(cycles(new Map([["a.ts", importsOf("a.ts", '// import "./a.ts";')]])), []);
});

Deno.test("no module of the repository imports itself back through another", () => {
  const graph = new Map(sources().map((p) => [p, importsOf(p, Deno.readTextFileSync(`${ROOT}${p}`))]));
  assert.ok(graph.get("lib/models.ts")?.includes("lib/cells.ts"), "the graph misses lib/models.ts's imports");
  const found = cycles(graph);
  assert.deepEqual(found.map((c) => c.join(" -> ")), []);
});
