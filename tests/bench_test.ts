/**
 * `deno task bench`'s arithmetic and CSV: the multiply-add count of a step
 * against hand counts, the f32x4 limit loop's bits, the bench CSV's schema and
 * migration, and the report of a bench CSV with the best-PyTorch and limit
 * columns. The bench itself is not run here (it takes minutes).
 */
import { assert } from "./_assert.ts";
import { macsPerReplicaStep } from "../lib/macs.ts";
import { BENCH_COLUMNS, BENCH_CSV, benchMacs } from "../lib/schemas.ts";
import { migrateText } from "../lib/migrations.ts";
import { parseCsv, ReadbackError } from "../lib/readback.ts";
import { benchReport } from "../lib/report/bench.ts";
import { maddLoop, MADDS_PER_ITERATION, PEAK_CHECK, peakMaddsPerSecond } from "../bench/peak.ts";

Deno.test("macsPerReplicaStep: hand counts of small steps and the bench models", () => {
  // rnn, H 2, 1 layer, 1 row, 1 step. Forward: W_ih 2x1 (2) + W_hh 2x2 (4) + read-out 1x2 (2) = 8.
  // Weight gradients: 8 again. Input gradients: dh from the read-out (2) and from W_hh (4), none for the data: 6.
  assert.equal(macsPerReplicaStep({ cell: "rnn", hidden: 2, layers: 1, batch: 1, bptt: 1 }), 22);
  // lstm, H 3, 2 layers, batch 2, bptt 3. Per (row, step): layer 1 12x(1+3) = 48, layer 2 12x(3+3) = 72,
  // read-out 3: forward 123; weights 123; inputs 123 - 12 (the data's) = 111; 357 x 6 = 2142.
  assert.equal(macsPerReplicaStep({ cell: "lstm", hidden: 3, layers: 2, batch: 2, bptt: 3 }), 2142);
  // gru, H 1, 1 layer: 3x(1+1) + 1 = 7 forward; 7 + 7 + (7 - 3) = 18.
  assert.equal(macsPerReplicaStep({ cell: "gru", hidden: 1, layers: 1, batch: 1, bptt: 1 }), 18);
  assert.equal(benchMacs("echo3"), 6800); // 100 x (2 x 24 + 20)
  assert.equal(benchMacs("echo10-h60"), 1_110_000); // 100 x (2 x 3720 + 3660)
});

Deno.test("peak loop: f32x4 multiply-then-add gives the same bits everywhere, and a rate", () => {
  assert.equal(MADDS_PER_ITERATION, 32);
  // The products round away against accumulators at 1: 32 lanes of 1 whatever the count.
  assert.equal(maddLoop(0), PEAK_CHECK);
  assert.equal(maddLoop(1000), PEAK_CHECK);
  // With products that count: accumulators at 0, scales 0.5, 1, 1.5, 2, and each iteration's two loaded vectors
  // permutations of 1..4 (lane sum 10): 2 x 10 x (0.5 + 1 + 1.5 + 2) = 100 an iteration, every add exact here.
  assert.equal(maddLoop(1, 0, 0.5), 100);
  assert.equal(maddLoop(1000, 0, 0.5), 100_000);
  assert.ok(peakMaddsPerSecond(5, 1) > 1e7);
});

const OLD_HEADER =
  "run_id,impl,backend,threads,processes,model,replicas_per_process,ms_per_step,replica_steps_per_s,ratio_to_torch,end_to_end_s";
const OLD = [
  OLD_HEADER,
  "20261129-222921-buut,pytorch 1.13.0a0,cpu (torch),1,1,echo3,1,0.852,1173.6,1.00,",
  "20261129-222921-buut,fused,wasm,1,1,echo10-h60,64,21.696,2949.8,4.13,",
  "20261129-222921-buut,fused,wasm,1,2,echo3,64,,34476.1,29.38,",
  "20261129-222921-buut,echolab,wasm,1,1,echo3,1,,,,2.48",
].join("\n") + "\n";

Deno.test("bench CSV migration: ratio_to_torch becomes ratio_to_best_torch, the new figures empty, macs filled", () => {
  assert.throws(() => parseCsv(OLD, "old.csv", BENCH_CSV), ReadbackError, "deno task migrate");
  const m = migrateText(OLD)!;
  assert.equal(m.migration, "bench + best PyTorch and f32x4 limit then bench + WebGPU step counts");
  const t = parseCsv(m.text, "new.csv", BENCH_CSV);
  assert.deepEqual(Object.keys(t.rows[0]), [...BENCH_COLUMNS]);
  assert.deepEqual(t.rows.map((r) => [r.ratio_to_best_torch, r.macs_per_replica_step, r.fraction_of_peak]), [
    ["1.00", "6800", ""],
    ["4.13", "1110000", ""],
    ["29.38", "6800", ""],
    ["", "", ""],
  ]);
  assert.equal(migrateText(m.text), null);
});

const NEW = [
  BENCH_COLUMNS.join(","),
  "20261202-160644-kppu,pytorch 1.13.0a0,cpu (torch),1,1,echo3,1,2.027,493.4,493.4,684.5,0.721,6800,5062672409,0.0007,,,,",
  "20261202-160644-kppu,pytorch 1.13.0a0 bmm,cpu (torch),1,1,echo3,1,1.461,684.5,493.4,684.5,1,6800,5062672409,0.0009,,,,",
  "20261202-160644-kppu,pytorch 1.13.0a0 bmm,cpu (torch),1,1,echo3,64,4.681,13671.4,493.4,13671.4,1,6800,5062672409,0.0184,,,,",
  "20261202-160644-kppu,fused,wasm,1,1,echo3,64,1.013,63199.4,493.4,13671.4,4.623,6800,5062672409,0.0849,,,,",
  "20261202-160644-kppu,fused,wasm,1,1,echo10-h60,64,16.082,3979.6,293.2,592.8,6.713,1110000,5062672409,0.8725,,,,",
  "20261202-160644-kppu,fused,wasm,1,2,echo3,64,1.302,98471.1,493.4,13671.4,7.203,6800,5062672409,0.0661,,,,",
  "20261202-160644-kppu,echolab,wasm,1,1,echo3,1,,,,,,,,,,,,1.39",
].join("\n") + "\n";

Deno.test("bench CSV: a speed row's multiply-adds must be its model's; an end-to-end row leaves the figures empty", () => {
  parseCsv(NEW, "b.csv", BENCH_CSV);
  const lines = NEW.split("\n");
  const bad = (line: number, from: string, to: string) =>
    [...lines.slice(0, line), lines[line].replace(from, to), ...lines.slice(line + 1)].join("\n");
  assert.throws(() => parseCsv(bad(4, ",6800,", ",6801,"), "b.csv", BENCH_CSV), ReadbackError, "must be 6800");
  assert.throws(
    () => parseCsv(bad(7, "1,,,,,,,,,,,,1.39", "1,,,,,,,6800,,,,,,1.39"), "b.csv", BENCH_CSV),
    ReadbackError,
    "macs_per_replica_step must be empty on an end-to-end row",
  );
});

Deno.test("benchReport: the PyTorch peers, the ratio to the faster and the share of the f32x4 limit", () => {
  const { blocks } = benchReport(parseCsv(NEW, "b.csv", BENCH_CSV).rows, "b.csv");
  assert.match(blocks.bench, /and the replicas batched with `bmm`/);
  assert.match(
    blocks.bench,
    /\| fused \| wasm \| echo3 \| 1 x 64 \| 1\.013 \| 63,199 \| 493 \| 13,671 \| 4\.62 \| 8\.5% \|/,
  );
  assert.match(blocks.bench, /at 5\.06 G multiply-adds\/s/);
  assert.match(blocks.bench, /ran at 8\.5% \(echo3\) and 87\.3% \(H 60\) of it/);
  assert.match(blocks.bench, /64 echo3 seeds train at 4\.6x the best PyTorch/);
  // An older run: the single seed's figure comes from its own row, and the text says it was the only peer.
  const old = benchReport(parseCsv(migrateText(OLD)!.text, "o.csv", BENCH_CSV).rows, "o.csv").blocks.bench;
  assert.match(old, /which is the only one this run timed/);
  assert.match(old, /\| fused \| wasm \| echo10-h60 \| 1 x 64 \| 21\.696 \| 2,950 \| - \| - \| 4\.13 \| - \|/);
  assert.doesNotMatch(old, /The limit/);
});
