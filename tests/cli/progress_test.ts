import { assert } from "../_assert.ts";
import { formatProgress, type ProgressState } from "../../lib/progress.ts";

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

/** echo3's output on a pseudo-terminal (util-linux `script`) with `env` set, or null where `script` is missing. */
async function onTerminal(env: Record<string, string>): Promise<string | null> {
  const out = await Deno.makeTempDir({ prefix: "echolab-pty-" });
  const cmd = `deno run --allow-read --allow-write=${out} --allow-env=TERM experiments/echo3.ts --out ${out} ` +
    "--epochs 1 --series 2000 --backend cpu";
  try {
    const r = await new Deno.Command("bash", {
      args: ["-c", `command -v script >/dev/null || exit 99; script -qc '${cmd}' /dev/null`],
      cwd: new URL("../../", import.meta.url).pathname,
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (r.code === 99) return null;
    assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
    return new TextDecoder().decode(r.stdout);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
}

Deno.test("the progress bar redraws with escape codes on a terminal only where NO_COLOR and TERM=dumb allow", async () => {
  const plain = { TERM: "xterm" };
  const tty = await onTerminal(plain);
  if (tty === null) {
    console.log("terminal progress test skipped: no util-linux script to open a pseudo-terminal");
    return;
  }
  assert.ok(tty.includes("\x1b[2K"), "no redraw on a terminal: the test cannot tell the cases apart");
  for (const env of [{ TERM: "dumb" }, { TERM: "xterm", NO_COLOR: "1" }] as Record<string, string>[]) {
    const out = await onTerminal(env);
    assert.ok(out !== null && !out.includes("\x1b"), `${JSON.stringify(env)}: escape codes in ${JSON.stringify(out)}`);
    assert.match(out!, /Test accuracy: /);
  }
});
