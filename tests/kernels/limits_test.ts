/**
 * The limits a run is checked against before its first step, against what runs measure: the memory
 * estimate (`--max-memory`, and the wasm backend's 4 GiB memory) must bound the tensor bytes an
 * epoch holds for the recurrence that runs, and the WebGPU buffer estimate must bound the largest
 * tensor a run allocates; runs past either are refused with one line, exit 2, nothing written.
 */
import { takePeakStepBytes } from "../../lib/kernels/cpu/step.ts";
import { tf } from "../../lib/tf.ts";
import { assert } from "../_assert.ts";
import { oneLine, runScript } from "../_run.ts";
import { estimateMemory } from "../../lib/cli.ts";
import { type CellKind, CELLS, SimpleRNN } from "../../lib/models.ts";
import { makeOptimizer } from "../../lib/optim.ts";
import { EchoData } from "../../lib/echo_data.ts";
import { echoCheck, testEpoch, trainEpoch } from "../../lib/train.ts";
import { findWebGpuAdapter, useBackend } from "../../lib/backend.ts";
import { largestBuffer } from "../../lib/kernels/webgpu/limits.ts";

interface Peak {
  /** Most bytes of tensors alive at once. */
  live: number;
  /** Bytes of the largest tensor made. */
  largest: number;
}

/** Trains one epoch of two chunks, tests and runs the random-sequence check, watching every tensor made. */
async function measure(
  c: {
    cell: CellKind;
    hidden: number;
    layers: number;
    seeds: number;
    batch: number;
    bptt: number;
    kernel: "op" | "fused";
  },
): Promise<Peak> {
  const engine = tf.engine() as unknown as { trackTensor: (t: tf.Tensor, b: unknown) => void };
  const track = engine.trackTensor;
  const peak: Peak = { live: 0, largest: 0 };
  engine.trackTensor = function (t, b) {
    track.call(this, t, b);
    peak.largest = Math.max(peak.largest, t.size * 4);
    peak.live = Math.max(peak.live, tf.memory().numBytes);
  };
  const seeds = Array.from({ length: c.seeds }, (_, i) => i + 1);
  const data = (stream: string) =>
    EchoData.forSeeds(seeds, {
      echoStep: 3,
      batchSize: c.batch,
      seriesLength: 2 * c.bptt,
      truncatedLength: c.bptt,
      stream,
    });
  const model = new SimpleRNN({ ...c, seeds });
  const opt = makeOptimizer("adam", model.variables, 0.001, c.kernel);
  try {
    const before = tf.memory().numBytes;
    takePeakStepBytes();
    const r = await trainEpoch(model, opt, data("train"), null, { clip: 1 });
    const t = await testEpoch(model, data("test"), r.state);
    tf.dispose(t.state);
    await echoCheck(model, seeds, 3, 100);
    // The CPU family's wasm step keeps its activations in its own module's memory, beside the tensors.
    peak.live += -before + takePeakStepBytes();
  } finally {
    engine.trackTensor = track;
    opt.dispose();
    model.dispose();
  }
  return peak;
}

Deno.test("the memory estimate bounds the tensors an epoch holds, for the recurrence that runs", async () => {
  await tf.setBackend("cpu");
  const shapes = [
    { hidden: 16, layers: 1, seeds: 4, batch: 16, bptt: 20 },
    { hidden: 48, layers: 2, seeds: 2, batch: 8, bptt: 10 },
  ];
  for (const cell of CELLS) {
    for (const kernel of ["op", "fused"] as const) {
      for (const s of shapes) {
        const where = `${cell} ${kernel} H${s.hidden} L${s.layers}`;
        const peak = await measure({ cell, kernel, ...s });
        const e = estimateMemory({ ...s, cell, kernel, series: 2 * s.bptt, optimizer: "adam" });
        const tensors = e.parameters + e.activations;
        assert.ok(peak.live <= tensors, `${where}: ${peak.live} bytes live, estimated ${tensors}`);
        // Not so loose that it refuses runs that fit: within 4x of what was measured.
        assert.ok(tensors <= 4 * peak.live, `${where}: estimated ${tensors}, ${peak.live} bytes live`);
      }
    }
  }
});

Deno.test("a run past the wasm backend's memory is refused up front (tfjs-wasm would abort mid-run)", async () => {
  const args = ["--backend", "wasm", "--kernel", "op", "--cell", "lstm", "--hidden", "512", "--layers", "2"]
    .concat([
      "--seeds",
      "8",
      "--batch",
      "64",
      "--series",
      "20",
      "--bptt",
      "20",
      "--echo-step",
      "1",
      "--max-memory",
      "100",
    ]);
  const r = await runScript("echo3", args);
  oneLine(
    r,
    2,
    /^error: this run needs about \d+\.\d GiB of tensors \(op-level activations .*the wasm backend can hold/,
  );
  assert.deepEqual(r.files, []);
  // The same sizes with the fused kernels need less than a third as much: only --max-memory refuses them.
  const fused = await runScript("echo3", args.map((a, i) => (a === "op" ? "fused" : i === args.length - 1 ? "1" : a)));
  oneLine(
    fused,
    2,
    /^error: this run needs about \d+\.\d GiB \(fused-kernel activations .*--max-memory budget of 1 GiB/,
  );
  assert.deepEqual(fused.files, []);
});

const adapter = await findWebGpuAdapter();

Deno.test({
  name: "webgpu: the buffer estimate bounds the largest tensor a run makes, and a run past the limit is refused",
  ignore: typeof adapter === "string",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await useBackend("webgpu");
    try {
      for (const cell of CELLS) {
        for (const kernel of ["op", "fused"] as const) {
          const s = { cell, kernel, hidden: 8, layers: 1, seeds: 3, batch: 2, bptt: 6 };
          const peak = await measure(s);
          const bound = largestBuffer({ ...s, echoStep: 3 });
          assert.ok(peak.largest <= bound, `${cell} ${kernel}: largest tensor ${peak.largest} bytes, bound ${bound}`);
          assert.ok(bound <= 8 * peak.largest, `${cell} ${kernel}: bound ${bound}, largest ${peak.largest}`);
        }
      }
    } finally {
      await tf.setBackend("cpu");
    }
    const args = ["--backend", "webgpu", "--cell", "lstm", "--hidden", "256", "--seeds", "64", "--batch", "64"]
      .concat(["--series", "40", "--bptt", "20", "--echo-step", "1", "--epochs", "1"]);
    const r = await runScript("echo3", args);
    oneLine(
      r,
      2,
      /^error: --seeds 64 x --batch 64 x --bptt 20 x --hidden 256 \(lstm\) needs a \d+ MiB buffer, over this WebGPU adapter's binding limit of \d+ MiB; at most \d+ seeds fit/,
    );
    assert.deepEqual(r.files, []);
  },
});
