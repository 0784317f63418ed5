import { assert } from "../_assert.ts";
import { DATA_GENERATOR } from "../../lib/echo_bits.ts";
import {
  capacities,
  gridPoints,
  MergeError,
  mergeShards,
  modelGroups,
  parseShardName,
  readShard,
  SHARD_COLUMNS,
  shardFileName,
  shardPoints,
  shardSize,
} from "../../lib/capacity.ts";
import { CsvLog } from "../../lib/csv_log.ts";
import { runDeno } from "../_run.ts";

const spec = { cells: ["rnn", "lstm", "gru", "irnn"] as const, hiddens: [2, 4, 8, 16, 32, 64], echoMax: 40 };

Deno.test("shards partition the grid exactly: union is the grid, no overlap", () => {
  const grid = gridPoints({ ...spec, cells: [...spec.cells] });
  assert.equal(grid.length, 4 * 6 * 40);
  for (const n of [1, 2, 3, 7, 16, 960, 1000]) {
    const seen = new Map<string, number>();
    for (let i = 1; i <= n; i++) {
      for (const p of shardPoints(grid, i, n)) {
        const key = `${p.cell}/${p.hidden}/${p.echoStep}`;
        assert.ok(!seen.has(key), `n=${n}: ${key} in shards ${seen.get(key)} and ${i}`);
        seen.set(key, i);
      }
    }
    assert.equal(seen.size, grid.length, `n=${n}: union misses points`);
  }
  assert.throws(() => shardPoints(grid, 0, 4), /1 <= i <= n/);
  assert.throws(() => shardPoints(grid, 5, 4), /1 <= i <= n/);
});

/** Shard CSVs as exp:capacity writes them; shard `cut` stops one point short, as if killed. */
function writeShards(dir: string, n: number, which: number[], grid = "abcd1234", cut = 0): string[] {
  const points = gridPoints({ cells: ["rnn", "lstm"], hiddens: [4], echoMax: 5 });
  return which.map((i, k) => {
    const path = `${dir}/shard-${i}-of-${n}-${k}.csv`;
    const log = CsvLog.create(path, SHARD_COLUMNS);
    const mine = shardPoints(points, i, n);
    log.append(
      ...mine.slice(0, i === cut ? mine.length - 1 : mine.length).map((p) => ({
        grid_id: grid,
        data_generator: DATA_GENERATOR,
        points: mine.length,
        shard: i,
        shards: n,
        cell: p.cell,
        hidden: p.hidden,
        echo_step: p.echoStep,
        seeds: 10,
        successes: p.cell === "lstm" ? 10 : p.echoStep <= 3 ? 6 : 2,
        test_acc_median: 99,
        epochs: 5,
        bptt: 50,
        seconds: 1,
      })),
    );
    return path;
  });
}

Deno.test("merge combines complete shards and refuses missing, duplicated or mixed ones", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const rows = mergeShards(writeShards(`${dir}`, 3, [1, 2, 3]));
    assert.equal(rows.length, 10);
    assert.deepEqual(capacities(rows), [{ cell: "rnn", hidden: 4, capacity: 3 }, {
      cell: "lstm",
      hidden: 4,
      capacity: 5,
    }]);
    Deno.mkdirSync(`${dir}/a`);
    assert.throws(() => mergeShards(writeShards(`${dir}/a`, 3, [1, 3])), /missing shard\(s\) 2 of 3/);
    Deno.mkdirSync(`${dir}/b`);
    assert.throws(() => mergeShards(writeShards(`${dir}/b`, 3, [1, 2, 2, 3])), /shard 2\/3 appears twice/);
    Deno.mkdirSync(`${dir}/c`);
    const mixed = [...writeShards(`${dir}/c`, 2, [1]), ...writeShards(`${dir}/c`, 2, [2], "ffff0000")];
    assert.throws(() => mergeShards(mixed), MergeError);
    Deno.mkdirSync(`${dir}/d`);
    assert.throws(
      () => mergeShards(writeShards(`${dir}/d`, 3, [1, 2, 3], "abcd1234", 2)),
      /shard 2\/3 in .* is incomplete: 2 of 3 grid points/,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("shardSize agrees with shardPoints; shard names carry the grid and its size", () => {
  const grid = gridPoints({ cells: ["rnn"], hiddens: [4], echoMax: 7 });
  for (const n of [1, 2, 3, 7, 8, 20]) {
    for (let i = 1; i <= n; i++) assert.equal(shardSize(grid.length, i, n), shardPoints(grid, i, n).length);
  }
  const name = shardFileName(3, 20, "abcd1234", 7, "20261130-010203-abcd");
  assert.equal(name, "shard-3-of-20-grid-abcd1234-7pts-20261130-010203-abcd.csv");
  assert.deepEqual(parseShardName(`results/capacity/${name}`), { shard: 3, shards: 20, grid: "abcd1234", gridSize: 7 });
  assert.deepEqual(parseShardName("shard-1-of-2-20261129-230139-cpam.csv"), {
    shard: 1,
    shards: 2,
    grid: undefined,
    gridSize: undefined,
  });
  assert.equal(parseShardName("capacity.csv"), null);
});

Deno.test("readShard checks every field and names the file and line", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const [path] = writeShards(dir, 1, [1]);
    const good = Deno.readTextFileSync(path);
    const lines = good.split("\n");
    const bad = (text: string) => {
      Deno.writeTextFileSync(`${dir}/x.csv`, text);
      return () => readShard(`${dir}/x.csv`);
    };
    assert.equal(readShard(path).rows.length, 10);
    assert.throws(bad(good.slice(0, -1)), /x\.csv:11: the last row is cut short/);
    assert.throws(bad(good.slice(0, -2)), /x\.csv:11: the last row is cut short/);
    const cut = [...lines];
    cut[4] = cut[4].slice(0, 15);
    assert.throws(bad(cut.join("\n")), new RegExp(`x\\.csv:5: \\d+ fields, expected ${SHARD_COLUMNS.length}`));
    for (
      const [col, value, want] of [
        ["grid_id", "xyz", /grid_id must be 8 hex digits/],
        ["cell", "transformer", /cell must be one of rnn, lstm, gru, irnn/],
        ["hidden", "4.5", /hidden must be an integer in 1\.\.4096/],
        ["successes", "11", /successes must be an integer in 0\.\.seeds/],
        ["test_acc_median", "101", /test_acc_median must be a number in 0\.\.100/],
        ["seconds", "", /seconds must be a number >= 0/],
      ] as const
    ) {
      const row = lines[3].split(",");
      row[SHARD_COLUMNS.indexOf(col)] = value;
      const text = [...lines.slice(0, 3), row.join(","), ...lines.slice(4)].join("\n");
      assert.throws(bad(text), new RegExp(`x\\.csv:4: ${want.source}`));
    }
    assert.throws(bad("\x89PNG\n"), /x\.csv:1: not a capacity shard CSV/);
    assert.throws(() => readShard(dir), /is a directory, not a shard CSV/);
    assert.throws(bad(SHARD_COLUMNS.join(",") + "\n"), /holds no rows, and its name does not say/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("modelGroups: consecutive points of one cell and size, at most `size` each, in order", () => {
  const points = shardPoints(gridPoints({ cells: ["rnn", "lstm"], hiddens: [2, 4], echoMax: 5 }), 1, 2);
  const groups = modelGroups(points, 2);
  assert.deepEqual(groups.flat(), points, "groups keep every point once, in order");
  for (const g of groups) {
    assert.ok(g.length >= 1 && g.length <= 2);
    assert.ok(g.every((p) => p.cell === g[0].cell && p.hidden === g[0].hidden), "a group mixes models");
  }
  // Shard 1 of 2 holds echo 1, 3, 5 of rnn H2, echo 2, 4 of rnn H4, then the same for lstm.
  assert.deepEqual(groups.map((g) => g.map((p) => p.echoStep)), [[1, 3], [5], [2, 4], [1, 3], [5], [2, 4]]);
  assert.equal(modelGroups(points, 100).length, 4, "one group per cell and size");
  assert.throws(() => modelGroups(points, 0), /positive integer/);
});

Deno.test("exp:capacity: a point trained in a group of echo steps gets exactly what it gets alone", async () => {
  const tiny = "--cells rnn,gru --hiddens 3 --echo-max 3 --seeds 3 --epochs 1 --series 400 --bptt 20 --backend wasm";
  const runs = await Promise.all(["1", "3"].map(async (group) => {
    const out = await Deno.makeTempDir({ prefix: "echolab-capacity-" });
    try {
      const r = await runDeno("experiments/capacity.ts", [...tiny.split(" "), "--group", group, "--out", out], out);
      assert.equal(r.code, 0, r.stderr);
      const [file] = [...Deno.readDirSync(out)];
      return readShard(`${out}/${file.name}`).rows.map(({ seconds: _, ...row }) => row);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  }));
  assert.equal(runs[0].length, 6);
  assert.deepEqual(runs[1], runs[0]);
  assert.ok(runs[0].some((r) => r.test_acc_median !== runs[0][0].test_acc_median), "all points alike: a weak check");
});
