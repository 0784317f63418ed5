import { assert } from "./_assert.ts";
import { formatProgress, type ProgressState } from "../lib/progress.ts";

const STATES: ProgressState[] = [
  { label: "epoch 1/5", done: 0, total: 1000, loss: NaN, accuracy: 0, seconds: 0 },
  { label: "epoch 3/5", done: 517, total: 1000, loss: 0.69305, accuracy: 50.12, seconds: 0.4 },
  { label: "epoch 10000/10000", done: 500000, total: 500000, loss: 12345.678, accuracy: 100, seconds: 1e-6 },
  { label: "test", done: 1, total: 1000, loss: 0.1, accuracy: 99.9, seconds: 3600 },
];

Deno.test("the progress line never reaches the terminal's last column, so it never wraps", () => {
  for (const columns of [1, 10, 20, 40, 60, 80, 120, 200]) {
    for (const s of STATES) {
      const line = formatProgress(s, columns);
      assert.ok(line.length <= columns - 1 || (columns <= 1 && line === ""), `${columns} cols: ${line.length} ${line}`);
      if (columns >= 40) assert.ok(line.startsWith(s.label), `${columns} cols: ${line}`);
    }
  }
});

Deno.test("a wide terminal gets the full bar, a narrower one a shorter bar, a narrow one none", () => {
  const s = STATES[1];
  const full = formatProgress(s, 200);
  assert.match(full, /^epoch 3\/5 \[#{12}-{12}\] 517\/1000 1293 step\/s ETA 0s loss 0\.693 acc 50\.1%$/);
  const bar = (line: string) => /\[([#-]*)\]/.exec(line)?.[1].length ?? 0;
  assert.ok(bar(formatProgress(s, 80)) >= 5 && bar(formatProgress(s, 80)) < 24, formatProgress(s, 80));
  assert.equal(bar(formatProgress(s, 60)), 0);
  assert.match(formatProgress(s, 60), /^epoch 3\/5 517\/1000 .*acc 50\.1%$/);
  assert.match(formatProgress(s, 40), /^epoch 3\/5 517\/1000/);
});
