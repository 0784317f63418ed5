/**
 * `deno task test:notebook`: every notebook under notebooks/, headless.
 *
 * 1. The committed notebook's cells are the ones its source describes (type,
 *    id and text, as `deno task notebook` writes them), and its outputs are a
 *    real run's: every code cell executed, no errors, the section checks pass.
 * 2. The source runs on a fresh Deno kernel with nbconvert, within
 *    {@linkcode LIMIT_S} seconds, with no error or stderr output, and the
 *    section checks of notebooks/checks.ts pass on what it showed.
 * 3. The notebook's runs are the command line's: the commands it lists for
 *    echo-3 (one seed and 20 seeds) print the same epoch lines, test
 *    accuracies and random-sequence check.
 * 4. It wrote nothing under results/ or notebooks/; its CSVs went to its own
 *    temporary folder, removed at the end.
 *
 * Prints one line per step and `notebooks: N passed` last; exits 1 naming the
 * first failure.
 */
import { cellsOf, denoFmt, execute, ExecutionError, executionProblems, notebookSources } from "./build.ts";
import { CheckError, SECTION_CHECKS, type SignalEchoingFacts } from "./checks.ts";
import { type Cell, joined, type Notebook } from "./ipynb.ts";

/** The whole run, every notebook, on 2 cores (the budget). */
export const LIMIT_S = 600;

const ROOT = new URL("../", import.meta.url);
const started = performance.now();
const elapsed = () => (performance.now() - started) / 1000;

class Failure extends Error {}

/** path -> size and modification time of every file under `dir` (relative to the repository). */
function snapshot(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (path: string) => {
    for (const e of Deno.readDirSync(new URL(path, ROOT))) {
      // results/'s top-level dot-folders are other tests' scratch space (tests/cli/hostile_test.ts skips them too)
      if (path === "results" && e.isDirectory && e.name.startsWith(".")) continue;
      const p = `${path}/${e.name}`;
      if (e.isDirectory) walk(p);
      else {
        const s = Deno.statSync(new URL(p, ROOT));
        files.set(p, `${s.size} ${s.mtime?.getTime()}`);
      }
    }
  };
  walk(dir);
  return files;
}

function changes(before: Map<string, string>, after: Map<string, string>): string[] {
  const keys = new Set([...before.keys(), ...after.keys()]);
  return [...keys].filter((k) => before.get(k) !== after.get(k)).sort();
}

async function compareSources(name: string, cells: Cell[]): Promise<Notebook> {
  const path = new URL(`notebooks/${name}.ipynb`, ROOT);
  let committed: Notebook, text: string;
  try {
    text = Deno.readTextFileSync(path);
    committed = JSON.parse(text);
  } catch (err) {
    throw new Failure(`notebooks/${name}.ipynb: ${(err as Error).message} (run \`deno task notebook\`)`);
  }
  const got = committed.cells.map((c) => `${c.cell_type} ${c.id}\n${joined(c.source)}`);
  const want = cells.map((c) => `${c.type} ${c.id}\n${c.source}`);
  const i = want.findIndex((w, k) => w !== got[k]);
  // deno fmt --check (2.9) calls an .ipynb unformatted until deno fmt has written it; .ci/run relies on this check.
  const formatted = await denoFmt(text);
  if (i >= 0 || got.length !== want.length) {
    const at = i >= 0 ? i : Math.min(got.length, want.length);
    throw new Failure(
      `notebooks/${name}.ipynb is not what notebooks/${name}.ts describes from cell ${at + 1} ` +
        `(${cells[at]?.id ?? "(none)"}): run \`deno task notebook\` and commit both`,
    );
  }
  if (text !== formatted) {
    throw new Failure(`notebooks/${name}.ipynb is not as deno fmt writes it: run \`deno task notebook\``);
  }
  const kernel = (committed.metadata.kernelspec as { name?: string } | undefined)?.name;
  if (kernel !== "deno") throw new Failure(`notebooks/${name}.ipynb: kernel ${kernel}, expected deno`);
  return committed;
}

/** Runs a command the notebook lists (`deno task exp:...`) as that task's script, writing only to `out`. */
async function runCommand(command: string, out: string): Promise<string> {
  const [deno, task, name, ...flags] = command.split(" ");
  if (deno !== "deno" || task !== "task") throw new Failure(`not a deno task: ${command}`);
  const tasks = JSON.parse(Deno.readTextFileSync(new URL("deno.json", ROOT))).tasks as Record<string, string>;
  const script = tasks[name]?.match(/(\S+\.ts)$/)?.[1] ?? (() => {
    throw new Failure(`deno.json has no task ${name} running a script`);
  })();
  const res = await new Deno.Command("deno", {
    args: ["run", "--allow-read", `--allow-write=${out}`, "--allow-env=TERM", script, ...flags, "--out", out],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!res.success) throw new Failure(`${command}: ${new TextDecoder().decode(res.stderr).trim()}`);
  return new TextDecoder().decode(res.stdout);
}

/** The notebook's echo-3 runs against the commands it lists for them. */
async function compareWithCli(facts: SignalEchoingFacts, out: string): Promise<void> {
  const one = facts.runs["echo3"];
  const cli = (await runCommand(facts.commands["echo3 (this notebook)"], out)).split("\n");
  const pick = (lines: string[]) =>
    lines.filter((l) =>
      /^(Train Epoch|Test accuracy|Input sequence|Echoing sequence|Number of correct|[01] [01] )/.test(l)
    );
  const notebook = pick([...one.lines, ...facts.echoCheck]);
  if (pick(cli).join("\n") !== notebook.join("\n")) {
    throw new Failure(
      `echo3: the notebook printed\n${notebook.join("\n")}\nbut its command printed\n${pick(cli).join("\n")}`,
    );
  }
  const many = facts.runs["echo3-20-seeds"];
  const cli20 = await runCommand(facts.commands["echo3-20-seeds (this notebook)"], out);
  const tests = [...cli20.matchAll(/^\[seed (\d+)\] Test accuracy: (\d+\.\d)%$/gm)].map((m) => `${m[1]}: ${m[2]}`);
  const mine = many.seeds.map((s, r) => `${s}: ${many.test[r].toFixed(1)}`);
  if (tests.join(", ") !== mine.join(", ")) {
    throw new Failure(
      `echo3, 20 seeds: the notebook's test accuracies ${mine.join(", ")}; its command's ${tests.join(", ")}`,
    );
  }
  const rate = cli20.match(/^success rate: (\d+)\/20 /m)?.[1];
  if (Number(rate) !== many.successes) {
    throw new Failure(`echo3, 20 seeds: ${many.successes} successes, the command ${rate}`);
  }
}

async function verify(name: string): Promise<void> {
  const cells = await cellsOf(name);
  const check = SECTION_CHECKS[name] ?? (() => {
    throw new Failure(`${name}: no section checks in notebooks/checks.ts`);
  })();
  const committed = await compareSources(name, cells);
  const stale = executionProblems(committed);
  if (stale.length) {
    throw new Failure(`notebooks/${name}.ipynb holds no clean run: ${stale[0]} (run \`deno task notebook\`)`);
  }
  check(committed, { fresh: false });
  console.log(`${name}: committed cells match notebooks/${name}.ts; its outputs pass the section checks`);

  const before = new Map([...snapshot("results"), ...snapshot("notebooks")]);
  const { notebook, seconds } = await execute(cells, Math.max(60, Math.floor(LIMIT_S - elapsed())));
  const problems = executionProblems(notebook);
  if (problems.length) throw new Failure(`${name}: ${problems.join("; ")}`);
  const facts = check(notebook, { fresh: true }) as SignalEchoingFacts;
  console.log(`${name}: ran on a fresh kernel in ${seconds.toFixed(0)} s; no errors; the section checks pass`);
  try {
    if (name === "signal-echoing") {
      await compareWithCli(facts, facts.out);
      console.log(`${name}: its echo-3 runs print what the commands it lists print`);
    }
    const changed = changes(before, new Map([...snapshot("results"), ...snapshot("notebooks")]));
    if (changed.length) throw new Failure(`${name}: changed files outside its temporary folder: ${changed.join(", ")}`);
    console.log(`${name}: wrote only to ${facts.out}`);
  } finally {
    Deno.removeSync(facts.out, { recursive: true }); // checks.ts made sure it is the notebook's own folder
  }
}

const names = notebookSources();
try {
  if (!names.length) throw new Failure("no notebook sources under notebooks/");
  for (const name of names) await verify(name);
  if (elapsed() > LIMIT_S) throw new Failure(`took ${elapsed().toFixed(0)} s, over the ${LIMIT_S} s budget`);
} catch (err) {
  if (!(err instanceof Failure || err instanceof CheckError || err instanceof ExecutionError)) throw err;
  console.error(`FAILED: ${err.message}`);
  Deno.exit(1);
}
console.log(`notebooks: ${names.length} passed in ${elapsed().toFixed(0)} s`);
