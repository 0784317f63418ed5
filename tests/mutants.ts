/**
 * Mutation check of the test suite: applies each deliberate mistake in the
 * notebook's semantics to a temporary copy of the repository, runs the fast
 * tests there, and reports which test caught it (or SURVIVED).
 *
 *   deno task test:mutants [--only ID,ID] [--jobs N] [--list]
 *
 * Prints one line per mutant and `N of N caught`; exits 1 if a mutant
 * survives or the unmutated copy fails its tests. The fast tests are the
 * test files tagged `// mutants: fast N` ({@linkcode FAST_TAG}), not a list
 * kept here.
 */
import { parseArgs } from "node:util";

/** One deliberate mistake: text edits to a file, each `find` occurring exactly once. */
export interface Mutant {
  id: string;
  what: string;
  file: string;
  edits: [find: string, replace: string][];
  /** The file is a wasm source (wasm/src/): the copy's modules are rebuilt before its tests run. */
  rebuild?: boolean;
}

export const MUTANTS: Mutant[] = [
  {
    id: "chunk-carry",
    what: "state not carried across chunks (reset to zeros each chunk)",
    file: "lib/kernels/op/step.ts",
    edits: [["state = out.state.map((t) => tf.keep(t));", "state = out.state.map((t) => tf.keep(tf.zerosLike(t)));"]],
  },
  {
    id: "epoch-carry",
    what: "state not carried across epochs",
    file: "lib/replicas.ts",
    edits: [[
      "trainEpoch(this.#model, this.#optimizer, this.#train, this.#state, {",
      "trainEpoch(this.#model, this.#optimizer, this.#train, null, {",
    ]],
  },
  {
    id: "test-carry",
    what: "state not carried into the test pass",
    file: "lib/replicas.ts",
    edits: [[
      "testEpoch(this.#model, this.#test, this.#state, onStep)",
      "testEpoch(this.#model, this.#test, null, onStep)",
    ]],
  },
  {
    id: "truncation",
    what: "gradient flows into the previous chunk (truncated BPTT broken: the carried state is recomputed on the tape)",
    file: "lib/train.ts",
    edits: [
      [
        "  for (let i = 0; i < n; i++) {\n    const { x, y } = stackChunks(datas, i);",
        "  let prevX: tf.Tensor4D | null = null, prevState: State = null;\n" +
        "  for (let i = 0; i < n; i++) {\n    const { x, y } = stackChunks(datas, i);\n" +
        "    const from = prevX, fromState = prevState;\n" +
        "    const recompute = { variables: model.variables, forward: (xx: tf.Tensor4D, st: State) =>\n" +
        "      model.forward(xx, from ? model.forward(from, fromState).state : st) };",
      ],
      ["const out = step(model, optimizer, {", "const out = step(recompute, optimizer, {"],
      ["    tf.dispose([x, y]);", "    tf.dispose(y);"],
      [
        "    disposeState(state);\n    state = next;\n    if ((i + 1) % every",
        "    prevState = state;\n    prevX = x;\n    state = next;\n    if ((i + 1) % every",
      ],
    ],
  },
  {
    id: "no-regenerate",
    what: "series not regenerated at chunk 0",
    file: "lib/echo_data.ts",
    edits: [[
      "if (index === 0 && !this.fixedSeries) this.generateNewSeries();",
      "if (index < 0) this.generateNewSeries();",
    ]],
  },
  {
    id: "fixed-regenerates",
    what: "series regenerated at chunk 0 despite --fixed-series",
    file: "lib/echo_data.ts",
    edits: [[
      "if (index === 0 && !this.fixedSeries) this.generateNewSeries();",
      "if (index === 0) this.generateNewSeries();",
    ]],
  },
  {
    id: "bits-row-ignored",
    what: "the wasm generator draws every batch row's bits from row 0's counter",
    file: "wasm/src/data.ts",
    edits: [["let c1 = i32x4.splat(row);", "let c1 = i32x4.splat(0);"]],
    rebuild: true,
  },
  {
    id: "bits-draw-stuck",
    what: "EchoData draws series 0 again at every chunk 0 (the draw counter does not advance)",
    file: "lib/echo_data.ts",
    edits: [["const draw = ++this.draw;", "const draw = (this.draw = 0);"]],
  },
  {
    id: "no-zero-fill",
    what: "targets not zero-filled for t < echo (np.roll without the zeroing)",
    file: "lib/echo_data.ts",
    edits: [["t >= k ? this.xBatch[b * L + t - k] : 0", "this.xBatch[b * L + ((t - k + L) % L)]"]],
  },
  {
    id: "rmsprop-alpha",
    what: "RMSprop alpha 0.9 (tfjs's decay) instead of PyTorch's 0.99",
    file: "lib/optim.ts",
    edits: [["this.alpha = opts.alpha ?? 0.99;", "this.alpha = opts.alpha ?? 0.9;"]],
  },
  {
    id: "rmsprop-eps-fused",
    what: "RMSprop eps inside the sqrt (fused update)",
    file: "lib/kernels/cpu/update.ts",
    edits: [["(lr * g[i]) / (Math.sqrt(squares[i]) + eps)", "(lr * g[i]) / Math.sqrt(squares[i] + eps)"]],
  },
  {
    id: "rmsprop-eps-op",
    what: "RMSprop eps inside the sqrt (op-level update)",
    file: "lib/kernels/op/update.ts",
    edits: [["tf.add(tf.sqrt(v), eps)", "tf.sqrt(tf.add(v, eps))"]],
  },
  {
    id: "init-narrow",
    what: "initialisation U(-1/H, 1/H) instead of U(-1/sqrt(H), 1/sqrt(H))",
    file: "lib/models.ts",
    edits: [["const bound = 1 / Math.sqrt(hidden);", "const bound = 1 / hidden;"]],
  },
  {
    id: "init-glorot",
    what: "initialisation Glorot-uniform (tfjs's default) instead of PyTorch's",
    file: "lib/models.ts",
    edits: [["const bound = 1 / Math.sqrt(hidden);", "const bound = Math.sqrt(6 / (shape[0] + (shape[1] ?? 1)));"]],
  },
  {
    id: "train-accuracy",
    what: "train accuracy as the notebook's correct / chunks (right only when batch x T = 100)",
    file: "lib/experiment.ts",
    edits: [["(res.correct[r] / res.digits) * 100", "res.correct[r] / (res.digits / (cfg.batch * cfg.bptt))"]],
  },
  {
    id: "test-accuracy",
    what: "test accuracy as correct / chunks (right only when batch x T = 100)",
    file: "lib/experiment.ts",
    edits: [["(c / test.digits) * 100", "c / (test.digits / (cfg.batch * cfg.bptt))"]],
  },
  {
    id: "loss-sum",
    what: "loss summed over digits instead of the mean BCE",
    file: "lib/loss.ts",
    edits: [['return perReplica(l, "mean");', 'return perReplica(l, "sum");']],
  },
  {
    id: "loss-swapped",
    what: "loss with logits and targets swapped (tfjs's sigmoidCrossEntropy takes labels first)",
    file: "lib/loss.ts",
    edits: [[
      "export function bceWithLogits(logits: tf.Tensor, targets: tf.Tensor)",
      "export function bceWithLogits(targets: tf.Tensor, logits: tf.Tensor)",
    ]],
  },
  {
    id: "echo-check-unshifted",
    what: "random-sequence check compares output with the unshifted input",
    file: "lib/train.ts",
    edits: [["if (output[t] === input[t - echoStep]) correct++;", "if (output[t] === input[t]) correct++;"]],
  },
  {
    id: "echo-check-wrap",
    what: "random-sequence check counts the first echo steps against the wrapped-around input",
    file: "lib/train.ts",
    edits: [[
      "for (let t = echoStep; t < length; t++) if (output[t] === input[t - echoStep]) correct++;",
      "for (let t = 0; t < length; t++) if (output[t] === input[(t - echoStep + length) % length]) correct++;",
    ]],
  },
  {
    id: "wgsl-carry",
    what: "WebGPU forward: h not carried from step to step (each step starts from zeros)",
    file: "lib/kernels/webgpu/layer.ts",
    edits: [["hShared[lane.groupRow * H + j] = h;", "hShared[lane.groupRow * H + j] = 0.0;"]],
  },
  {
    id: "wgsl-bptt",
    what: "WebGPU backward: no gradient flows to the previous step",
    file: "lib/kernels/webgpu/layer.ts",
    edits: [["dh = dhPrev;", "dh = 0.0;"]],
  },
  {
    id: "wgsl-2d-dispatch",
    what: "WebGPU kernels read only workgroup_id.x (rows past 65,535 workgroups, laid out in 2D by tfjs, go wrong)",
    file: "lib/kernels/webgpu/layer.ts",
    edits: [[
      "let wg = i32(workgroupId.z * numWorkgroups.x * numWorkgroups.y + workgroupId.y * numWorkgroups.x + workgroupId.x);",
      "let wg = i32(workgroupId.x);",
    ]],
  },
  {
    id: "wgsl-gru-reset",
    what: "WebGPU GRU: the reset gate left out of the n gate (r * (W_hn h + b_hn) becomes W_hn h + b_hn)",
    file: "lib/kernels/webgpu/layer.ts",
    edits: [[
      "let candidate = tanhf(xp[xpAt + 2 * H + j] + reset * hn);",
      "let candidate = tanhf(xp[xpAt + 2 * H + j] + hn);",
    ]],
  },
  {
    id: "rmsprop-eps-webgpu",
    what: "RMSprop eps inside the sqrt (WebGPU update)",
    file: "lib/kernels/webgpu/update.ts",
    edits: [["g[i] / (sqrt(vNext[i]) + ${wgslFloat(rule.eps)})", "g[i] / sqrt(vNext[i] + ${wgslFloat(rule.eps)})"]],
  },
  {
    id: "gpu-nan-freeze",
    what: "device tallies never mark a replica diverged (a NaN replica keeps training)",
    file: "lib/tally.ts",
    edits: [[
      'tf.mul(this.#alive, tf.cast(tf.isFinite(stepLoss), "float32"))',
      "tf.clone(this.#alive)",
    ]],
  },
  {
    id: "clip-addn",
    what: "clipping sums the squared gradient norms with tf.addN (WebGPU binds 8 buffers: 2+ layers mis-sum)",
    file: "lib/kernels/op/step.ts",
    edits: [[
      "const norms = tf.sqrt(squares.reduce((a, b) => tf.add(a, b))) as tf.Tensor1D;",
      "const norms = tf.sqrt(tf.addN(squares)) as tf.Tensor1D;",
    ]],
  },
  {
    id: "step-chunk-carry",
    what: "CPU wasm step: state not carried across chunks (zeros copied in)",
    file: "lib/kernels/cpu/step.ts",
    edits: [[
      "f32.set(t.dataSync() as Float32Array, mem.stateIn + i * stateFloats)",
      "f32.fill(0, mem.stateIn + i * stateFloats, mem.stateIn + (i + 1) * stateFloats)",
    ]],
  },
  {
    id: "step-clip-skipped",
    what: "CPU wasm step: the per-replica gradient-norm clip skipped",
    file: "wasm/src/step.ts",
    edits: [["if (clip > 0) {", "if (clip < 0) {"]],
    rebuild: true,
  },
  {
    id: "step-adam-no-bias",
    what: "CPU wasm step: Adam without bias correction",
    file: "wasm/src/step.ts",
    edits: [["const stepSize = lr / c1, sc2 = Mathf.sqrt(c2);", "const stepSize = lr, sc2: f32 = 1;"]],
    rebuild: true,
  },
  {
    id: "step-gru-reset-grad",
    what: "CPU wasm step: GRU reset gate's derivative without its sigmoid' factor (1 - r)",
    file: "wasm/src/step.ts",
    edits: [["const dr = dn * hn * reset * (<f64>1 - reset);", "const dr = dn * hn * reset;"]],
    rebuild: true,
  },
  {
    id: "epoch-chunk-carry",
    what: "CPU wasm epoch: state not carried across chunks (each chunk starts from the epoch's state in)",
    file: "wasm/src/step.ts",
    edits: [["memory.copy(eStateIn, eStateOut, <usize>(nState * S * eB * eH) << 2);", ""]],
    rebuild: true,
  },
  {
    id: "epoch-freeze-skipped",
    what: "CPU wasm epoch: a replica whose loss is not finite is not frozen (it keeps training on NaN)",
    file: "wasm/src/step.ts",
    edits: [["if (ld(eAlive, s) != 0 && !isFinite<f32>(ld(eLoss, s))) st(eAlive, s, 0);", ""]],
    rebuild: true,
  },
  {
    id: "wgsl-step-carry",
    what: "WebGPU fused step: state not carried across chunks (the WGSL forward starts each chunk from h = 0)",
    file: "lib/kernels/webgpu/step_wgsl.ts",
    edits: [["var hOwn = ST[${stIn(String(l))} + j];", "var hOwn = 0.0;"]],
  },
  {
    id: "wgsl-step-adam-no-bias",
    what: "WebGPU fused step: Adam without bias correction in the WGSL update",
    file: "lib/kernels/webgpu/step_wgsl.ts",
    edits: [[
      "P[i] = P[i] - rule.stepSize * (m / (sqrt(v) / rule.sqrtC2 + rule.eps));",
      "P[i] = P[i] - rule.lr * (m / (sqrt(v) + rule.eps));",
    ]],
  },
  {
    id: "wgsl-step-clip-skipped",
    what: "WebGPU fused step: the per-replica gradient-norm clip skipped (coefficient 1)",
    file: "lib/kernels/webgpu/step_wgsl.ts",
    // rule.clip still read: a program that reads no uniform loses the binding, and every dispatch then fails.
    edits: [[
      "min(rule.clip / (sqrt(total) + 1e-6), 1.0), rule.clip > 0.0)",
      "min(rule.clip / (sqrt(total) + 1e-6), 1.0), rule.clip < 0.0)",
    ]],
  },
  {
    id: "webgpu-epoch-draw",
    what: "WebGPU epoch: the series draw not advanced at chunk 0 (every epoch trains on the previous series)",
    file: "lib/kernels/webgpu/epoch.ts",
    edits: [["for (const d of datas) if (!d.fixedSeries) d.draw++;", ""]],
  },
  {
    id: "append-no-cut",
    what: "a failed CSV append is not cut back to the last whole row",
    file: "lib/durable.ts",
    edits: [["file.truncateSync(this.end);", ""]],
  },
];

/** The tests a mutant must fail: everything but the long training bands and the CLI/chart checks. */
/**
 * The tag a test file carries on a line of its own to be one of the fast
 * tests every mutant runs, with its place in the order: `// mutants: fast 3`.
 * Lower numbers run first; the slowest files (software WebGPU, the
 * equivalence matrix) go last, so that with --fail-fast only mutants the
 * others miss reach them.
 */
export const FAST_TAG = /^\/\/ mutants: fast (\d+)$/m;

/** The test files under `root`/tests tagged {@linkcode FAST_TAG}, in their order, relative to `root`. */
export function fastTests(root: string): string[] {
  const walk = (dir: string): string[] =>
    [...Deno.readDirSync(`${root}${dir}`)].flatMap((e) =>
      e.isDirectory ? walk(`${dir}/${e.name}`) : e.name.endsWith("_test.ts") ? [`${dir}/${e.name}`] : []
    );
  const tagged = walk("tests").flatMap((path) => {
    const m = Deno.readTextFileSync(`${root}${path}`).match(FAST_TAG);
    return m ? [{ path, order: Number(m[1]) }] : [];
  });
  if (tagged.length < 5) throw new Error(`only ${tagged.length} test files carry "// mutants: fast N"`);
  return tagged.sort((a, b) => a.order - b.order || a.path.localeCompare(b.path)).map((t) => t.path);
}

const ROOT = new URL("../", import.meta.url).pathname;
const dec = new TextDecoder();

/** Copies the repository's files (tracked and new, not ignored) to a temp dir; node_modules is linked. */
async function copyRepo(): Promise<string> {
  const ls = await new Deno.Command("git", {
    args: ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    cwd: ROOT,
    stdout: "piped",
  }).output();
  if (!ls.success) throw new Error("git ls-files failed: test:mutants needs a git checkout");
  const dir = await Deno.makeTempDir({ prefix: "echolab-mutant-" });
  for (const f of dec.decode(ls.stdout).split("\0").filter(Boolean)) {
    try {
      const to = `${dir}/${f}`;
      await Deno.mkdir(to.slice(0, to.lastIndexOf("/")), { recursive: true });
      await Deno.copyFile(`${ROOT}${f}`, to);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err; // deleted but not yet committed
    }
  }
  await Deno.symlink(`${ROOT}node_modules`, `${dir}/node_modules`);
  return dir;
}

function apply(dir: string, m: Mutant): void {
  const path = `${dir}/${m.file}`;
  let src = Deno.readTextFileSync(path);
  for (const [find, replace] of m.edits) {
    const n = src.split(find).length - 1;
    if (n !== 1) throw new Error(`mutant ${m.id}: ${m.file} has ${n} copies of ${JSON.stringify(find)}, need 1`);
    src = src.replace(find, () => replace);
  }
  Deno.writeTextFileSync(path, src);
}

/** Rebuilds the wasm modules of the copy in `dir` from its (mutated) sources, as `deno task build:wasm` does. */
async function rebuildWasm(dir: string): Promise<void> {
  const r = await new Deno.Command("deno", {
    args: [
      "run",
      "--no-lock",
      "--cached-only",
      "--allow-read",
      "--allow-env=CI",
      "--allow-write=lib/kernels",
      "wasm/build.ts",
    ],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!r.success) throw new Error(`build:wasm failed in the mutant's copy:\n${dec.decode(r.stderr)}`);
}

/** Runs the fast tests in `dir`; returns the names of the tests that failed. */
async function runTests(dir: string, failFast: boolean): Promise<{ ok: boolean; failed: string[]; tail: string }> {
  const r = await new Deno.Command("deno", {
    args: [
      "test",
      "--no-check",
      "--allow-read",
      "--allow-write",
      "--allow-run=deno,bash",
      "--allow-env=ECHOLAB_SLOW,CI",
      ...(failFast ? ["--fail-fast"] : []),
      ...fastTests(`${dir}/`),
    ],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const out = dec.decode(r.stdout) + dec.decode(r.stderr);
  const failed = [...new Set([...out.matchAll(/^(.+?) \.\.\. FAILED/gm)].map((x) => x[1].trim()))];
  return { ok: r.success, failed, tail: out.split("\n").slice(-15).join("\n") };
}

async function pool<T, R>(items: T[], jobs: number, f: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(jobs, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]);
    }
  }));
  return out;
}

if (import.meta.main) {
  const usage = "usage: deno task test:mutants [--only ID,ID] [--jobs N] [--list]";
  let args;
  try {
    args = parseArgs({
      args: Deno.args,
      options: {
        only: { type: "string" },
        jobs: { type: "string" },
        list: { type: "boolean" },
        help: { type: "boolean" },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    console.error(`error: ${(err as Error).message}; ${usage}`);
    Deno.exit(2);
  }
  if (args.help) {
    console.log(
      `${usage}\n\nApplies each deliberate mistake to a copy of the repository and runs the fast tests there.`,
    );
    Deno.exit(0);
  }
  if (args.list) {
    for (const m of MUTANTS) console.log(`${m.id.padEnd(22)} ${m.file.padEnd(18)} ${m.what}`);
    Deno.exit(0);
  }
  const jobs = Number(args.jobs ?? navigator.hardwareConcurrency);
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 64) {
    console.error(`error: --jobs must be an integer in 1..64, got ${args.jobs}`);
    Deno.exit(2);
  }
  const ids = args.only?.split(",") ?? MUTANTS.map((m) => m.id);
  const unknown = ids.filter((id) => !MUTANTS.some((m) => m.id === id));
  if (unknown.length) {
    console.error(`error: --only: unknown mutant ${unknown.join(", ")}; see --list`);
    Deno.exit(2);
  }
  const chosen = MUTANTS.filter((m) => ids.includes(m.id));
  const t0 = performance.now();

  const base = await copyRepo();
  try {
    const clean = await runTests(base, false);
    if (!clean.ok) {
      console.error(`the unmutated copy fails its tests, so no mutant can be judged:\n${clean.tail}`);
      Deno.exit(1);
    }
    console.log(`unmutated copy: the fast tests pass (${fastTests(ROOT).length} files)`);
  } finally {
    await Deno.remove(base, { recursive: true });
  }

  const results = await pool(chosen, jobs, async (m) => {
    const dir = await copyRepo();
    try {
      apply(dir, m);
      if (m.rebuild) await rebuildWasm(dir);
      const r = await runTests(dir, true);
      const line = r.ok
        ? `SURVIVED  ${m.id.padEnd(22)} ${m.what}`
        : `caught    ${m.id.padEnd(22)} ${m.what}\n          by: ${
          r.failed.join("; ") || "(a test module failed to load)"
        }`;
      console.log(line);
      return !r.ok;
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
  const caught = results.filter(Boolean).length;
  console.log(`${caught} of ${chosen.length} caught (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  if (caught < chosen.length) Deno.exit(1);
}
