/**
 * `deno task migrate`: a CSV written under an older schema becomes, byte for byte, what the current
 * writer writes for the same run; every committed CSV is current; exp:gradients writes the header
 * its migration makes and honours --name and --cell.
 */
import { parse } from "csv-parse/sync";
import { stringify } from "csv-stringify/sync";
import { assert } from "../_assert.ts";
import { runScript } from "../_run.ts";
import { GRADIENT_COLUMNS, migrateText } from "../../lib/migrations.ts";
import { DATA_GENERATOR, LEGACY_DATA_GENERATOR } from "../../lib/echo_bits.ts";
import { earlierReasonsFor } from "../../lib/kernels/mod.ts";
import type { CellKind } from "../../lib/cells.ts";

/** The CSV text with `columns` taken out: what an older writer wrote. */
function dropColumns(text: string, ...columns: string[]): string {
  const rows = parse(text) as string[][];
  const drop = columns.map((c) => rows[0].indexOf(c));
  drop.forEach((i, k) => assert.ok(i >= 0, `no ${columns[k]} column`));
  return stringify(rows.map((r) => r.filter((_, j) => !drop.includes(j))));
}

Deno.test("an experiment CSV without identity_scale, kernel_reason or data_generator migrates to what the writer wrote then", async () => {
  for (const [cell, kernel] of [["irnn", "auto"], ["rnn", "auto"], ["rnn", "op"]]) {
    const args = ["--cell", cell, "--kernel", kernel, "--seeds", "2", "--epochs", "1", "--series", "200"];
    const r = await runScript("echo3", args);
    assert.equal(r.code, 0, r.stderr);
    const current = stringify([Object.keys(r.rows[0]), ...r.rows.map((row) => Object.values(row))]);
    // An older writer drew its data with the legacy generator: what a migration fills in is its name.
    assert.ok(r.rows.every((row) => row.data_generator === DATA_GENERATOR));
    // And one without kernel_reason ran before the CPU family's whole step was wasm: its reason is the earlier one.
    const then = (row: Record<string, string>, reason: boolean) => ({
      ...row,
      data_generator: LEGACY_DATA_GENERATOR,
      kernel_reason: reason
        ? earlierReasonsFor({ backend: row.backend, cell: row.cell as CellKind, hidden: +row.hidden })
          .find((e) => e.recurrence === row.kernel)?.reason ?? row.kernel_reason
        : row.kernel_reason,
    });
    const legacy = (reason: boolean) =>
      stringify([Object.keys(r.rows[0]), ...r.rows.map((row) => Object.values(then(row, reason)))]);
    if (kernel === "auto") assert.notEqual(legacy(true), legacy(false), "the CPU family's reason has changed");
    for (
      const older of [["data_generator"], ["kernel_reason", "data_generator"], [
        "identity_scale",
        "kernel_reason",
        "data_generator",
      ]]
    ) {
      const m = migrateText(dropColumns(current, ...older));
      assert.ok(m, `${cell} ${kernel} without ${older}: no migration applied`);
      assert.equal(m.text, legacy(older.includes("kernel_reason")), `${cell} ${kernel} without ${older}`);
    }
    assert.equal(migrateText(current), null, `${cell}: a current CSV is migrated again`);
  }
});

Deno.test("every committed CSV is under the current schema", () => {
  const walk = (dir: string): string[] =>
    [...Deno.readDirSync(dir)].flatMap((e) =>
      e.isDirectory ? walk(`${dir}/${e.name}`) : e.name.endsWith(".csv") ? [`${dir}/${e.name}`] : []
    );
  const files = walk(new URL("../../results", import.meta.url).pathname);
  assert.ok(files.length > 20, `${files.length} CSVs under results/`);
  for (const f of files) assert.equal(migrateText(Deno.readTextFileSync(f)), null, `${f} needs deno task migrate`);
});

Deno.test("exp:gradients writes the migrated header, and honours --name and --cell", async () => {
  const args = ["--cell", "irnn", "--identity-scale", "0.5", "--name", "probe", "--hidden", "3", "--seeds", "1"]
    .concat(["--epochs", "1", "--series", "200"]);
  const r = await runScript("gradients", args);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.files.length, 1);
  assert.match(r.files[0], /\/probe-[^/]+\.csv$/);
  assert.deepEqual(Object.keys(r.rows[0]), [...GRADIENT_COLUMNS]);
  assert.deepEqual([...new Set(r.rows.map((row) => row.cell))], ["irnn"]);
  assert.deepEqual([...new Set(r.rows.map((row) => row.identity_scale))], ["0.5"]);
});
