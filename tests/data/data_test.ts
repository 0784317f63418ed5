// mutants: fast 1
import { assert } from "../_assert.ts";
import { EchoData, type EchoDataOptions } from "../../lib/echo_data.ts";

const base: EchoDataOptions = { echoStep: 3, batchSize: 5, seriesLength: 200, truncatedLength: 20, seed: 7 };

Deno.test("y is x shifted right by echoStep with zeros in front", () => {
  for (const echoStep of [1, 3, 10]) {
    const d = new EchoData({ ...base, echoStep });
    const L = d.seriesLength;
    for (let b = 0; b < d.batchSize; b++) {
      for (let t = 0; t < L; t++) {
        const want = t < echoStep ? 0 : d.xBatch[b * L + t - echoStep];
        assert.equal(d.yBatch[b * L + t], want, `echo ${echoStep} b ${b} t ${t}`);
      }
    }
  }
});

Deno.test("series has seriesLength / T chunks of [batch, T, 1] equal to its slices", () => {
  const d = new EchoData(base);
  assert.equal(d.length, 10);
  const x0 = d.xBatch.slice(), y0 = d.yBatch.slice();
  for (let i = 0; i < d.length; i++) {
    const c = d.chunkAt(i);
    assert.equal(c.x.length, 5 * 20);
    for (let b = 0; b < 5; b++) {
      for (let t = 0; t < 20; t++) {
        assert.equal(c.x[b * 20 + t], x0[b * 200 + i * 20 + t]);
        assert.equal(c.y[b * 20 + t], y0[b * 200 + i * 20 + t]);
      }
    }
  }
});

Deno.test("reading chunk 0 draws a new series; other chunks do not; fixedSeries keeps it", () => {
  const d = new EchoData(base);
  const before = d.xBatch.slice();
  d.chunk(3);
  assert.deepEqual(d.xBatch, before, "chunk 3 must not redraw");
  d.chunk(0);
  assert.notDeepEqual(d.xBatch, before, "chunk 0 must redraw");
  const after = d.xBatch.slice();
  d.chunk(1);
  assert.deepEqual(d.xBatch, after);

  const f = new EchoData({ ...base, fixedSeries: true });
  const fixed = f.xBatch.slice();
  f.chunk(0);
  f.chunk(0);
  assert.deepEqual(f.xBatch, fixed);
});

Deno.test("a seed reproduces the data exactly; seeds and streams differ", () => {
  const a = new EchoData(base), b = new EchoData(base);
  assert.deepEqual(a.xBatch, b.xBatch);
  for (let i = 0; i < 3; i++) assert.deepEqual(a.chunk(0).x, b.chunk(0).x);
  assert.notDeepEqual(new EchoData({ ...base, seed: 8 }).xBatch, new EchoData(base).xBatch);
  assert.notDeepEqual(new EchoData({ ...base, stream: "test" }).xBatch, new EchoData(base).xBatch);
});

Deno.test("bits are fair: about half ones over 100k draws", () => {
  const d = new EchoData({ ...base, batchSize: 10, seriesLength: 10_000 });
  const ones = d.xBatch.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(ones / d.xBatch.length - 0.5) < 0.01, `fraction of ones ${ones / d.xBatch.length}`);
});

Deno.test("bad sizes are errors naming the value", () => {
  assert.throws(() => new EchoData({ ...base, seriesLength: 210, truncatedLength: 20 }), /not divisible/);
  assert.throws(() => new EchoData({ ...base, echoStep: 0 }), /echoStep must be an integer >= 1, got 0/);
  assert.throws(() => new EchoData(base).chunk(10), /chunk index must be in 0\.\.9/);
});
