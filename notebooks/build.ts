/**
 * Builds the notebooks from their TypeScript sources and runs them on Deno's
 * Jupyter kernel, headless, with nbconvert.
 *
 *   deno task notebook [NAME...]    # default: every notebooks/*.ts with `// %%` cells
 *
 * (needs --allow-run=jupyter,deno: nbconvert runs the kernel, deno fmt formats the notebook)
 *
 * For each source `notebooks/<name>.ts` it writes the cells (see
 * {@linkcode parseCells}) as a notebook, executes it on a fresh kernel whose
 * working folder is notebooks/ (as a Jupyter front end's is), checks that no
 * cell failed and that every section shows what notebooks/checks.ts asks,
 * and only then replaces `notebooks/<name>.ipynb` with the executed notebook,
 * outputs and all (formatted as `deno fmt` writes it). Needs Debian's `jupyter-nbconvert`,
 * `jupyter-client` and `python3-ipykernel` and the kernel (`deno jupyter --install`).
 */

import { type Cell, joined, type Notebook, parseCells, toNotebook } from "./ipynb.ts";
import { CheckError, SECTION_CHECKS } from "./checks.ts";

export const NOTEBOOKS = new URL("./", import.meta.url);

/**
 * `text` (a notebook's JSON) as `deno fmt` writes it with the repository's
 * settings: cell sources formatted (Markdown re-wrapped to the line width),
 * so the committed notebook passes `deno fmt --check`.
 */
export async function denoFmt(text: string): Promise<string> {
  const child = new Deno.Command("deno", {
    args: ["fmt", "--ext=ipynb", "-"],
    cwd: new URL("../", NOTEBOOKS),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const out = await child.output();
  if (!out.success) throw new ExecutionError(`deno fmt: ${new TextDecoder().decode(out.stderr).trim()}`);
  return new TextDecoder().decode(out.stdout);
}

/** The cells as the committed notebook holds them: the source's cells, formatted by `deno fmt`. */
export async function canonicalCells(cells: Cell[]): Promise<Cell[]> {
  const nb = JSON.parse(await denoFmt(JSON.stringify(toNotebook(cells), null, 1))) as Notebook;
  return nb.cells.map((c, i) => ({ ...cells[i], source: joined(c.source) }));
}

/** The sources under notebooks/ that hold cells (`notebooks/<name>.ts`), by name. */
export function notebookSources(): string[] {
  return [...Deno.readDirSync(NOTEBOOKS)]
    .filter((e) => e.isFile && e.name.endsWith(".ts"))
    .filter((e) => /^\/\/ %% /m.test(Deno.readTextFileSync(new URL(e.name, NOTEBOOKS))))
    .map((e) => e.name.replace(/\.ts$/, ""))
    .sort();
}

/** The cells `notebooks/<name>.ts` describes, as the notebook holds them ({@linkcode canonicalCells}). */
export async function cellsOf(name: string): Promise<Cell[]> {
  return await canonicalCells(parseCells(Deno.readTextFileSync(new URL(`${name}.ts`, NOTEBOOKS))));
}

/** What a failed or refused run of nbconvert says, in one line and the log after it. */
export class ExecutionError extends Error {}

/**
 * Executes `cells` as a notebook on a fresh Deno kernel with nbconvert (the
 * kernel's working folder is notebooks/), within `timeoutS` seconds in all;
 * returns the executed notebook as nbconvert writes it, and the seconds taken.
 */
export async function execute(
  cells: Cell[],
  timeoutS = 900,
): Promise<{ json: string; notebook: Notebook; seconds: number }> {
  const t0 = performance.now();
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("jupyter", {
      args: [
        "nbconvert",
        "--to=notebook",
        "--execute",
        "--stdin",
        "--stdout",
        "--ExecutePreprocessor.kernel_name=deno",
        `--ExecutePreprocessor.timeout=${timeoutS}`,
        "--ExecutePreprocessor.record_timing=False",
      ],
      cwd: NOTEBOOKS,
      // The notebook's temporary folder lands where the tasks may read and write (their permissions name /tmp).
      env: { TMPDIR: "/tmp" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new ExecutionError(
        "jupyter not found: install Debian's jupyter-nbconvert, jupyter-client and python3-ipykernel " +
          "(apt-get install --no-install-recommends), then `deno jupyter --install`",
      );
    }
    throw err;
  }
  const timer = setTimeout(() => child.kill("SIGTERM"), timeoutS * 1000);
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(toNotebook(cells))));
  await writer.close();
  const out = await child.output();
  clearTimeout(timer);
  const seconds = (performance.now() - t0) / 1000;
  const log = new TextDecoder().decode(out.stderr);
  if (!out.success) {
    const why = /No such kernel named deno/.test(log)
      ? "the Deno kernel is not installed: run `deno jupyter --install`"
      : out.signal
      ? `stopped after ${timeoutS} s (${out.signal})`
      : `nbconvert exited with code ${out.code}`;
    throw new ExecutionError(`${why}\n${log.trim().split("\n").slice(-40).join("\n")}`);
  }
  const json = new TextDecoder().decode(out.stdout);
  return { json, notebook: JSON.parse(json) as Notebook, seconds };
}

/** Problems of an executed notebook: a code cell not run, an error output, anything on stderr. */
export function executionProblems(nb: Notebook): string[] {
  const problems: string[] = [];
  for (const c of nb.cells) {
    if (c.cell_type !== "code") continue;
    if (typeof c.execution_count !== "number") problems.push(`cell ${c.id}: not executed`);
    for (const o of c.outputs ?? []) {
      if (o.output_type === "error") problems.push(`cell ${c.id}: ${o.ename}: ${o.evalue}`);
      if (o.output_type === "stream" && o.name === "stderr") {
        problems.push(`cell ${c.id}: stderr: ${joined(o.text).trim().split("\n")[0]}`);
      }
    }
  }
  return problems;
}

if (import.meta.main) {
  const names = Deno.args.length ? Deno.args : notebookSources();
  for (const name of names) {
    const cells = await cellsOf(name);
    console.log(`${name}: executing ${cells.length} cells on a fresh Deno kernel ...`);
    let result;
    try {
      result = await execute(cells);
    } catch (err) {
      if (!(err instanceof ExecutionError)) throw err;
      console.error(`error: ${name}: ${err.message}`);
      Deno.exit(1);
    }
    const problems = executionProblems(result.notebook);
    const check = SECTION_CHECKS[name];
    if (!check) problems.push(`no section checks for ${name} in notebooks/checks.ts`);
    else if (!problems.length) {
      try {
        check(result.notebook, { fresh: true });
      } catch (err) {
        if (!(err instanceof CheckError)) throw err;
        problems.push(err.message);
      }
    }
    if (problems.length) {
      console.error(`error: ${name}: ${problems.length} problem(s); notebooks/${name}.ipynb left as it was`);
      for (const p of problems) console.error(`  ${p}`);
      Deno.exit(1);
    }
    const path = new URL(`${name}.ipynb`, NOTEBOOKS);
    const tmp = new URL(`.${name}.ipynb.tmp`, NOTEBOOKS);
    Deno.writeTextFileSync(tmp, await denoFmt(result.json));
    Deno.renameSync(tmp, path);
    console.log(`${name}: ran in ${result.seconds.toFixed(0)} s; wrote notebooks/${name}.ipynb`);
  }
}
