// The source of notebooks/signal-echoing.ipynb: `deno task notebook` turns each `// %%` block into a cell
// (`// %% [markdown] <id>`: a Markdown cell, its lines without the leading `// `; `// %% <id>`: a code cell),
// runs it on Deno's Jupyter kernel and commits the outputs. Edit this file, not the .ipynb; deno check, lint and fmt
// read it as the one TypeScript module the kernel runs cell by cell.

// %% [markdown] title
// # Signal echoing, on Deno
//
// The NYU Deep Learning practicum notebook
// [Signal echoing](https://github.com/Atcold/pytorch-Deep-Learning/blob/master/09-echo_data.ipynb) (PyTorch),
// section by section on [echolab](../README.md): every cell calls the suite's public API in
// [`mod.ts`](../mod.ts), the code the `deno task exp:*` scripts run. Then what the notebook cannot do with one model
// at a time: 20 seeds at once and their success rate, and the notebook's closing question answered from the
// published results.
//
// The backend is pinned to `wasm`, so a seed gives the same numbers here as on the command line (the last section
// lists the commands). Each run writes its CSV to a temporary folder, never into `results/`. The echo-10 models train
// fewer epochs or seeds than the published runs where those take minutes; the notes say where.

// %% setup
import {
  CsvLog,
  describeBackend,
  echoCheck,
  EchoData,
  median,
  newRunId,
  type Optimizer,
  quietTfjsWarnings,
  RMSprop,
  SimpleRNN,
  type State,
  SUCCESS_ACCURACY,
  type Summary,
  summaryMarkdown,
  testEpoch,
  tf,
  trainEpoch,
  useBackend,
  wilson,
} from "../mod.ts";
import { lossChart, markdown, print, RunLog, showSvgFile } from "./live.ts";

quietTfjsWarnings();
const backend = await useBackend("wasm");
const OUT = await Deno.makeTempDir({ prefix: "echolab-notebook-" });
await print(describeBackend(backend), `CSVs of this notebook's runs go to ${OUT}`);

// %% [markdown] data-intro
// ## Generate dataset
//
// `EchoData` draws `batchSize` sequences of `seriesLength` random bits each; the target is the input moved
// `echoStep` positions to the right, with zeros in the first `echoStep` positions. For the toy sequence
//
// ```
// x = [1 0 1 1 1 0 0]
// ```
//
// the expected response with 2 echo steps is
//
// ```
// y = [0 0 1 0 1 1 1]
// ```
//
// The bits come from a seeded generator of our own, so each seed has its own data, and they differ from NumPy's.

// %% data
const batchSize = 5;
const echoStep = 3; // a short echo
const seriesLength = 20_000;
const bpttT = 20;
const seed = 5; // exp:echo3's default, one of the seeds that learn: "20 seeds at once" below says how many do

/** Training and test data for each seed (train and test draw from different streams of the seed). */
function echoData(seeds: number[], echoStep: number): [EchoData[], EchoData[]] {
  const opts = { echoStep, batchSize, seriesLength, truncatedLength: bpttT };
  return [
    EchoData.forSeeds(seeds, { ...opts, stream: "train" }),
    EchoData.forSeeds(seeds, { ...opts, stream: "test" }),
  ];
}

const [trainData, testData] = echoData([seed], echoStep);
const train0 = trainData[0];

// %% [markdown] data-length-intro
// `length` is the number of chunks (batches of T steps) in a series, `seriesLength / T`:

// %% data-length
await print(String(train0.length), String(seriesLength / bpttT));

// %% [markdown] data-first-intro
// The first 20 time steps of the first sequence, input and target:

// %% data-first
/** Steps 0..n-1 of sequence `b` of a `[batch, series]` array. */
const row = (a: Uint8Array, b: number, n = 20) => [...a.subarray(b * seriesLength, b * seriesLength + n)];
await print(
  `(1st input sequence)  x: ${row(train0.xBatch, 0).join(" ")} ... `,
  `(1st target sequence) y: ${row(train0.yBatch, 0).join(" ")} ... `,
);

// %% [markdown] data-batch-intro
// `batchSize` different sequences are drawn:

// %% data-batch
const rows = (a: Uint8Array) => Array.from({ length: batchSize }, (_, b) => `${row(a, b).join(" ")} ...`);
await print(
  "x_batch:",
  ...rows(train0.xBatch),
  `x_batch size: (${batchSize}, ${seriesLength})`,
  "",
  "y_batch:",
  ...rows(train0.yBatch),
  `y_batch size: (${batchSize}, ${seriesLength})`,
);

// %% [markdown] data-chunk-intro
// For the RNN the data is cut into temporal chunks of `[batchSize, T, featureDim]`:

// %% data-chunk
const chunk0 = train0.chunkAt(0);
const chunkRows = (a: Float32Array) =>
  Array.from({ length: batchSize }, (_, b) => `[${a.slice(b * bpttT, (b + 1) * bpttT).join(" ")}]`);
await print(
  "x_chunk:",
  ...chunkRows(chunk0.x),
  `1st x_chunk size: (${batchSize}, ${bpttT}, 1)`,
  "",
  "y_chunk:",
  ...chunkRows(chunk0.y),
  `1st y_chunk size: (${batchSize}, ${bpttT}, 1)`,
);

// %% [markdown] model-intro
// ## Defining the Recurrent Neural Network (RNN) model
//
// The notebook's `SimpleRNN`: one ReLU RNN layer of `hidden` units, batch first, then `Linear(hidden, 1)`, one logit
// per step. echolab writes it with PyTorch's equations and initialisation, and gives every parameter a leading
// replica axis: one model holds one independent network per seed, trained together in one batched computation.

// %% model
const hUnits = 4;
const echo3Model = new SimpleRNN({ hidden: hUnits, seeds: [seed] });
await print(
  ...[...echo3Model.params].map(([name, p]) => `${name.padEnd(18)} [${p.shape.join(", ")}]`),
  `${echo3Model.parameterCount} parameters per seed`,
);

// %% [markdown] loop-intro
// ## Defining the training and testing loops
//
// Every training step does the notebook's five things: forward pass, loss (BCE with logits), clearing the gradients,
// backward pass, optimizer step. `trainEpoch` does them for each chunk in order and carries the hidden state from
// chunk to chunk as a constant (the notebook's `hidden.detach_()`: truncated backpropagation through time);
// `testEpoch` runs the chunks without gradients. The `train` below is the notebook's loop around them: it prints the
// notebook's lines, shows a progress line that redraws in place, logs every epoch to a CSV in the temporary folder,
// and ends with a chart of the loss per epoch. With several seeds the lines give medians over the seeds, and the last
// line counts the seeds that reached 99% test accuracy.

// %% train-loop
/** One run of `train`: what it measured per epoch and seed, and how to rerun it from the command line. */
interface Run {
  name: string;
  /** The `deno task` that trains the same model (same seeds, data and initialisation). */
  task: string;
  seeds: number[];
  epochs: number;
  /** [epoch][seed]: the loss of the epoch's last chunk, as the notebook prints it. */
  loss: number[][];
  /** [epoch][seed]: train accuracy, %. */
  accuracy: number[][];
  /** Test accuracy per seed, %. */
  test: number[];
  learnt: boolean[];
  csv: string;
}
const pct = (x: number) => `${x.toFixed(1)}%`;

async function train(opts: {
  name: string;
  task: string;
  seeds: number[];
  model: SimpleRNN;
  optimizer: Optimizer;
  trainData: EchoData[];
  testData: EchoData[];
  epochs: number;
}): Promise<Run> {
  const { name, seeds, model, optimizer, epochs } = opts;
  const S = seeds.length, many = S > 1;
  const csv = CsvLog.create(`${OUT}/${name}-${newRunId()}.csv`, [
    "seed",
    "phase",
    "epoch",
    "train_loss",
    "train_acc",
    "test_acc",
  ]);
  const run: Run = {
    name,
    task: opts.task,
    seeds,
    epochs,
    loss: [],
    accuracy: [],
    test: [],
    learnt: [],
    csv: csv.path,
  };
  const log = await RunLog.start(many ? `${name}, ${S} seeds` : name);
  const alive: boolean[] = seeds.map(() => true); // a seed whose loss turns NaN stops training
  const live = (xs: number[]) => xs.filter((_, r) => alive[r]);
  let hidden: State = null;
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const res = await trainEpoch(model, optimizer, opts.trainData, hidden, {
      alive,
      onStep: (done, total, loss, acc) => log.progress(`epoch ${epoch}/${epochs}`, done, total, loss, acc),
    });
    hidden = res.state;
    const accuracy = res.correct.map((c) => (c / res.digits) * 100);
    run.loss.push(res.loss);
    run.accuracy.push(accuracy);
    csv.append(...seeds.map((s, r) => ({
      seed: s,
      phase: "train",
      epoch,
      train_loss: alive[r] ? res.loss[r] : "",
      train_acc: alive[r] ? accuracy[r] : "",
    })));
    log.line(
      `Train Epoch: ${epoch}/${epochs}, loss: ${median(live(res.loss)).toFixed(3)}, ` +
        `accuracy ${pct(median(live(accuracy)))}` + (many ? ` (medians over ${live(accuracy).length} seeds)` : ""),
    );
  }
  const test = await testEpoch(model, opts.testData, hidden, (done, total, _loss, acc) => {
    log.progress("test", done, total, NaN, acc);
  });
  tf.dispose(test.state);
  run.test = test.correct.map((c) => (c / test.digits) * 100);
  run.learnt = run.test.map((a, r) => alive[r] && a >= SUCCESS_ACCURACY);
  csv.append(
    ...seeds.map((s, r) => ({ seed: s, phase: "test", epoch: epochs, test_acc: alive[r] ? run.test[r] : "" })),
  );
  const successes = run.learnt.filter(Boolean).length;
  if (!many) log.line(`Test accuracy: ${pct(run.test[0])}`);
  else {
    log.line(
      `Test accuracy per seed: ${seeds.map((s, r) => `${s}: ${alive[r] ? pct(run.test[r]) : "diverged"}`).join(", ")}`,
    );
    const [lo, hi] = wilson(successes, S);
    const diverged = S - live(run.test).length;
    log.line(
      `success rate: ${successes}/${S} seeds reached >= ${SUCCESS_ACCURACY}% test accuracy ` +
        `(Wilson 95% interval ${(100 * lo).toFixed(0)}-${(100 * hi).toFixed(0)}%), ` +
        `median test accuracy ${pct(median(live(run.test)))}` + (diverged ? `, ${diverged} diverged` : ""),
    );
  }
  log.line(`csv: ${run.csv}`);
  await log.finish(`${epochs} epochs and the test pass`);
  await lossChart(
    run.loss.flatMap((ls, e) =>
      ls.map((loss, r) => ({ seed: seeds[r], epoch: e + 1, loss, learnt: run.learnt[r] }))
        .filter((p) => Number.isFinite(p.loss))
    ),
    `${name}: loss per epoch` + (many ? ` (${successes} of ${S} seeds learnt)` : ""),
  );
  return run;
}

// %% [markdown] together-intro
// ## Putting it all together
//
// RMSprop with PyTorch's update and the notebook's learning rate, 5 epochs. The progress line redraws in place while
// the model trains; the chart comes at the end.

// %% echo3
const echo3Optimizer = new RMSprop(echo3Model.variables, { lr: 0.001 });
const echo3Run = await train({
  name: "echo3",
  task: "exp:echo3",
  seeds: [seed],
  model: echo3Model,
  optimizer: echo3Optimizer,
  trainData,
  testData,
  epochs: 5,
});

// %% [markdown] check-intro
// Execute the model with a random sequence of 100 bits, from a zero state, and count the digits echoed right
// (the first `echoStep` outputs have nothing to echo yet):

// %% echo-check
const [check] = await echoCheck(echo3Model, [seed], echoStep, 100);
await print(
  "Input sequence:",
  check.input.join(" "),
  "Echoing sequence:",
  check.output.join(" "),
  `Number of correct echoing digits from the ${check.checked} : ${check.correct}`,
);

// %% [markdown] echo10-intro
// ## Play with configs
//
// An RNN does well when the task needs little memory. **What happens when it has to echo further back?** The same
// model, echoing 10 steps late, with 20 epochs to help it (seed 1, the echo-10 scripts' default):

// %% echo10-h4
const echo10Seed = 1;
const [train10, test10] = echoData([echo10Seed], 10);
const h4Model = new SimpleRNN({ hidden: 4, seeds: [echo10Seed] });
const h4Run = await train({
  name: "echo10-h4",
  task: "exp:echo10-h4",
  seeds: [echo10Seed],
  model: h4Model,
  optimizer: new RMSprop(h4Model.variables, { lr: 0.001 }),
  trainData: train10,
  testData: test10,
  epochs: 20,
});

// %% [markdown] echo10-h60-intro
// **What happens when we increase the number of hidden units? Does it increase the RNN's memory?** 60 units, fresh
// data of the same seed:

// %% echo10-h60
const [train10b, test10b] = echoData([echo10Seed], 10);
const h60Model = new SimpleRNN({ hidden: 60, seeds: [echo10Seed] });
const h60Run = await train({
  name: "echo10-h60",
  task: "exp:echo10-h60",
  seeds: [echo10Seed],
  model: h60Model,
  optimizer: new RMSprop(h60Model.variables, { lr: 0.001 }),
  trainData: train10b,
  testData: test10b,
  epochs: 20,
});

// %% [markdown] echo10-deep-intro
// **What if we add more hidden layers?** The notebook's `LongerRNN`: 6 stacked layers of 60 units. It trains here for
// 3 epochs instead of 20 (20 take minutes on a laptop's CPU; the cell after this one shows the published 20-epoch
// runs of 20 seeds):

// %% echo10-deep
const [train10c, test10c] = echoData([echo10Seed], 10);
const deepModel = new SimpleRNN({ hidden: 60, layers: 6, seeds: [echo10Seed] });
const deepRun = await train({
  name: "echo10-deep",
  task: "exp:echo10-deep",
  seeds: [echo10Seed],
  model: deepModel,
  optimizer: new RMSprop(deepModel.variables, { lr: 0.001 }),
  trainData: train10c,
  testData: test10c,
  epochs: 3,
});

// %% [markdown] published-notebook-intro
// The published runs of these four models, 20 seeds each, the echo-10 models for the notebook's 20 epochs
// (`results/`, made by `deno task exp:echo3 --seed 1 --seeds 20` and `deno task exp:memory`): one seed says little,
// which is what the next section is about.

// %% published-notebook
/** A `## heading` section of a Markdown file, its relative links pointing from this folder, images left out. */
function section(markdown: string, heading: string, base = "../results/"): string {
  const start = markdown.indexOf(`\n## ${heading}`);
  if (start < 0) throw new Error(`no section "${heading}"`);
  const end = markdown.indexOf("\n## ", start + 1);
  return markdown.slice(start + 1, end < 0 ? undefined : end)
    .split("\n").filter((l) => !/^!\[|^\(PNG:/.test(l)).join("\n")
    .replace(/\]\((?!https?:|#)([^)]+)\)/g, `](${base}$1)`)
    .replace(/^## /, "### ");
}
const resultsReadme = await Deno.readTextFile("../results/README.md");
await markdown(section(resultsReadme, "The notebook's experiments"));
await showSvgFile(
  "../results/charts/notebook-learning-curves.svg",
  "published learning curves of the notebook's models",
);

// %% [markdown] seeds-intro
// ## 20 seeds at once
//
// The notebook's comment under its training cell says it: _"Depends on the initialization of the network the model
// can't reach or not the maximum accuracy. Re-launch this cell if you don't get the 100% accuracy."_ One run is a
// draw. A model of 20 replicas trains 20 independent networks, each with its own seed's data and initialisation, in
// one batched computation, and counts how many learn. The echo-3 model first:

// %% seeds-echo3
const seeds20 = Array.from({ length: 20 }, (_, i) => i + 1);
const [train20, test20] = echoData(seeds20, 3);
const echo3x20 = new SimpleRNN({ hidden: 4, seeds: seeds20 });
const echo3SeedsRun = await train({
  name: "echo3-20-seeds",
  task: "exp:echo3",
  seeds: seeds20,
  model: echo3x20,
  optimizer: new RMSprop(echo3x20.variables, { lr: 0.001 }),
  trainData: train20,
  testData: test20,
  epochs: 5,
});

// %% [markdown] seeds-parity-intro
// How often the notebook's own PyTorch code succeeds at the same task, over 100 seeds (`deno task exp:parity`,
// `results/parity/summary.csv`):

// %% seeds-parity
/** The rows of a comma-separated file without quoted fields, as records of strings. */
function readCsv(path: string): Record<string, string>[] {
  const [head, ...lines] = Deno.readTextFileSync(path).trim().split("\n").map((l) => l.split(","));
  return lines.map((l) => Object.fromEntries(head.map((h, i) => [h, l[i]])));
}
const parity = readCsv("../results/parity/summary.csv").filter((r) =>
  r.config === "echo3-rnn-h4" && r.mode === "regen"
);
const side = (name: string) => parity.find((r) => r.side === name)!;
const share = (r: Record<string, string>) =>
  `${r.successes}/${r.n} seeds (${(100 * Number(r.ci_low)).toFixed(0)}-${(100 * Number(r.ci_high)).toFixed(0)}%)`;
const mine = echo3SeedsRun.learnt.filter(Boolean).length;
await markdown(
  `| echo 3, H 4, 5 epochs | seeds reaching >= ${SUCCESS_ACCURACY}% test accuracy |\n| --- | ---: |\n` +
    `| this notebook, seeds 1-${seeds20.length} | ${mine}/${seeds20.length} |\n` +
    `| echolab, 100 seeds (\`exp:parity\`) | ${share(side("echolab"))} |\n` +
    `| the notebook's PyTorch code, 100 seeds | ${share(side("torch"))} |\n\n` +
    `Fisher's exact test, PyTorch against echolab: p = ${Number(side("torch").fisher_p).toFixed(2)}.`,
);

// %% [markdown] seeds-echo10-intro
// At echo 10, the notebook's H 4 model over 20 seeds and its 20 epochs:

// %% seeds-echo10-h4
const [train20b, test20b] = echoData(seeds20, 10);
const h4x20 = new SimpleRNN({ hidden: 4, seeds: seeds20 });
const h4SeedsRun = await train({
  name: "echo10-h4-20-seeds",
  task: "exp:echo10-h4",
  seeds: seeds20,
  model: h4x20,
  optimizer: new RMSprop(h4x20.variables, { lr: 0.001 }),
  trainData: train20b,
  testData: test20b,
  epochs: 20,
});

// %% [markdown] seeds-echo10-h60-intro
// And H 60 over 20 seeds, for 5 epochs rather than 20 (20 seeds of 20 epochs take minutes here): most seeds sit on the
// plateau at chance; the published 20-epoch runs are in the table above and in the next section.

// %% seeds-echo10-h60
const [train20c, test20c] = echoData(seeds20, 10);
const h60x20 = new SimpleRNN({ hidden: 60, seeds: seeds20 });
const h60SeedsRun = await train({
  name: "echo10-h60-20-seeds",
  task: "exp:echo10-h60",
  seeds: seeds20,
  model: h60x20,
  optimizer: new RMSprop(h60x20.variables, { lr: 0.001 }),
  trainData: train20c,
  testData: test20c,
  epochs: 5,
});

// %% [markdown] answer-intro
// ## How can we improve the long-term memory of an RNN?
//
// The notebook ends on this question. `deno task exp:memory` answers it at echo 10 over 20 seeds per remedy: wider
// and deeper RNNs, LSTM and GRU cells, identity initialisation (IRNN), a longer truncation window and gradient
// clipping. The published answer, from `results/README.md`, which `deno task report` writes from the CSVs:

// %% answer
await markdown(section(resultsReadme, "The answer in short"));

// %% [markdown] summary-intro
// Every configuration, from `results/memory/summary.csv` (Wilson 95% intervals; test accuracy median and quartiles
// over the seeds):

// %% summary
const summary = readCsv("../results/memory/summary.csv").map((r) =>
  Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v === "" ? NaN : Number.isNaN(Number(v)) ? v : Number(v)]))
) as unknown as Summary[];
await markdown(summaryMarkdown(summary));
await showSvgFile("../results/charts/memory-success.svg", "success rate per configuration");

// %% [markdown] curves-intro
// Train accuracy per epoch of every seed of every configuration (green: seeds that reached 99% test accuracy; red
// points: test accuracy):

// %% curves
await showSvgFile("../results/charts/memory-learning-curves.svg", "learning curves of every configuration");

// %% [markdown] why-intro
// Why the plain RNN forgets: how much the loss at step t feels the input k steps back (`deno task exp:gradients`):

// %% why
await markdown(section(resultsReadme, "Why the plain RNN forgets"));
await showSvgFile("../results/charts/gradient-by-lag.svg", "gradient against lag");

// %% [markdown] capacity-intro
// And how far back each cell and width can remember (`deno task exp:capacity`):

// %% capacity
await showSvgFile("../results/charts/capacity.svg", "memory capacity");

// %% [markdown] reproduce-intro
// ## Reproducing every figure from the command line
//
// Each run of this notebook is one command away (the same seeds, data and initialisation, so the same numbers on the
// `wasm` backend), and every published chart is rebuilt by `deno task report` from the runs that
// `results/manifest.json` names. The commands write under `results/`; a run of your own changes nothing published
// until the manifest names it.

// %% reproduce
/** `--seed 5`, `--seed 1 --seeds 20` or `--seeds 2,7`. */
function seedFlags(seeds: number[]): string {
  if (seeds.length === 1) return `--seed ${seeds[0]}`;
  const consecutive = seeds.every((s, i) => i === 0 || s === seeds[i - 1] + 1);
  return consecutive ? `--seed ${seeds[0]} --seeds ${seeds.length}` : `--seeds ${seeds.join(",")}`;
}
const capacityRows = readCsv("../results/capacity/capacity.csv");
const distinct = (key: string) => [...new Set(capacityRows.map((r) => r[key]))];
const shards = Number(capacityRows[0].shards);
const grid = `--cells ${distinct("cell").join(",")} --hiddens ${distinct("hidden").join(",")} ` +
  `--echo-max ${Math.max(...distinct("echo_step").map(Number))} --seeds ${distinct("seeds").join(",")} ` +
  `--epochs ${distinct("epochs").join(",")} --bptt ${distinct("bptt").join(",")}`;
/** Commands in code spans; plain words (what to do between them) as they are. */
const code = (...steps: string[]) => steps.map((s) => (s.startsWith("deno ") ? `\`${s}\`` : s)).join(", then ");
const capacityShards = Array.from(
  { length: shards },
  (_, i) => `deno task exp:capacity ${grid} --shard ${i + 1}/${shards}`,
);
const commands: [string, string][] = [
  ...[echo3Run, h4Run, h60Run, deepRun, echo3SeedsRun, h4SeedsRun, h60SeedsRun].map((r): [string, string] => [
    `${r.name} (this notebook)`,
    code(`deno task ${r.task} ${seedFlags(r.seeds)} --epochs ${r.epochs} --backend wasm`),
  ]),
  [
    "charts/notebook-learning-curves.svg",
    code(
      "deno task exp:echo3 --seed 1 --seeds 20 --backend wasm",
      "deno task exp:memory --backend wasm",
      "name the new CSVs under `notebook` in results/manifest.json",
      "deno task report",
    ),
  ],
  [
    "charts/memory-success.svg, charts/memory-learning-curves.svg",
    code("deno task exp:memory --backend wasm", "name the new CSVs under `memory` in the manifest", "deno task report"),
  ],
  [
    "charts/gradient-by-lag.svg",
    code("deno task exp:gradients --backend wasm", "name the new CSV under `gradients`", "deno task report"),
  ],
  [
    "charts/capacity.svg",
    code(...capacityShards, "deno task merge results/capacity/shard-*.csv --force", "deno task report"),
  ],
];
await markdown(
  "| figure | commands |\n| --- | --- |\n" +
    commands.map(([figure, command]) => `| ${figure} | ${command} |`).join("\n"),
);

// %% [markdown] csv-outro
// The CSVs of this notebook's runs are in the temporary folder printed by the first cell, one row per seed and epoch.
// The README's section "Opening the CSVs in a spreadsheet" says how to open them (and `results/`'s) in LibreOffice or
// Excel.
