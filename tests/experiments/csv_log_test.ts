import { parse } from "csv-parse/sync";
import { assert } from "../_assert.ts";
import { CsvLog, formatCsvValue } from "../../lib/csv_log.ts";

Deno.test("CSV numbers: 7 significant digits without float noise, never NaN or Infinity", () => {
  assert.equal(formatCsvValue(NaN), "");
  assert.equal(formatCsvValue(Infinity), "");
  assert.equal(formatCsvValue(-Infinity), "");
  assert.equal(formatCsvValue(49.914500000000004), "49.9145");
  assert.equal(formatCsvValue(0.6930588483810425), "0.6930588");
  assert.equal(formatCsvValue(99.99999999), "100");
  assert.equal(formatCsvValue(0.001), "0.001");
  assert.equal(formatCsvValue(1.23456789e-8), "1.234568e-8");
  assert.equal(formatCsvValue(-2.5), "-2.5");
  assert.equal(formatCsvValue(20_000), "20000");
  assert.equal(formatCsvValue(4_294_967_295), "4294967295");
  assert.equal(formatCsvValue(0), "0");
  assert.equal(formatCsvValue(-0), "0");
  assert.equal(formatCsvValue(true), "true");
  assert.equal(formatCsvValue(false), "false");
  assert.equal(formatCsvValue(null), "");
  assert.equal(formatCsvValue(undefined), "");
  assert.equal(formatCsvValue("0.123456789"), "0.123456789", "strings are kept as given");
  for (const x of [0.6930588483810425, 3.14159265358979, 1e-30 / 3, 123456.789123]) {
    assert.ok(Math.abs(Number(formatCsvValue(x)) - x) <= 5e-7 * Math.abs(x), `${x} -> ${formatCsvValue(x)}`);
  }
});

Deno.test("CsvLog.append writes every cell by that rule", async () => {
  const dir = await Deno.makeTempDir({ prefix: "echolab-test-" });
  try {
    const log = CsvLog.create(`${dir}/a.csv`, ["seed", "loss", "acc", "ok", "note", "missing"]);
    log.append({ seed: 5, loss: 0.6930588483810425, acc: 49.914500000000004, ok: true, note: "a,b" });
    log.append({ seed: 6, loss: NaN, acc: Infinity, ok: false, note: "" });
    const text = Deno.readTextFileSync(log.path);
    assert.equal(text, 'seed,loss,acc,ok,note,missing\n5,0.6930588,49.9145,true,"a,b",\n6,,,false,,\n');
    assert.deepEqual(parse(text, { columns: true })[0], {
      seed: "5",
      loss: "0.6930588",
      acc: "49.9145",
      ok: "true",
      note: "a,b",
      missing: "",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
