/**
 * Every write is whole or absent (lib/durable.ts): short writes are finished,
 * a failed append cuts the CSV back to its last whole row and says how many
 * rows it holds (or, where the cut failed, at which byte they end), a whole
 * file is replaced atomically or left as it was; and a real experiment on a
 * real full disk (a 64 KiB tmpfs, when the tests run as root) stops with one
 * line and exit 1, leaving only whole rows.
 */
// mutants: fast 9
import { parse } from "csv-parse/sync";
import { assert } from "../_assert.ts";
import { runDeno } from "../_run.ts";
import { CsvLog } from "../../lib/csv_log.ts";
import { type Opener, WriteError, writeFileAtomic } from "../../lib/durable.ts";

const COLUMNS = ["seed", "epoch", "loss", "note"];
const row = (seed: number, epoch: number) => ({ seed, epoch, loss: 0.5 / (epoch + seed), note: "a,b" });

/** An OS error as Deno throws it: an Error with the errno name as `code`. */
const osError = (code: string, message: string) => Object.assign(new Error(message), { code });
const enospc = () => osError("ENOSPC", "No space left on device (os error 28)");
const eio = () => osError("EIO", "Input/output error (os error 5)");

interface FakeDisk {
  /** Bytes a file may grow to; a write past it is short, the next one fails. */
  room: number;
  /** Most bytes one write takes. */
  chunk: number;
  /** The error a write past `room` throws. */
  error: () => Error;
  /** When set, cutting a file back throws it. */
  truncateError?: () => Error;
  writes: number;
  /** The largest size a file reached. */
  peak?: number;
}

/** An opener whose files behave like ones on a disk of `disk.room` bytes. */
function fakeDisk(disk: FakeDisk): Opener {
  return (path, options) => {
    const f = Deno.openSync(path, options);
    return {
      writeSync(p: Uint8Array) {
        disk.writes++;
        const free = disk.room - Deno.statSync(path).size;
        if (free <= 0) throw disk.error();
        const n = f.writeSync(p.subarray(0, Math.min(p.length, free, disk.chunk)));
        disk.peak = Math.max(disk.peak ?? 0, Deno.statSync(path).size);
        return n;
      },
      syncSync: () => f.syncSync(),
      truncateSync(len?: number) {
        if (disk.truncateError) throw disk.truncateError();
        f.truncateSync(len);
      },
      close: () => f.close(),
    };
  };
}

function withDir(fn: (dir: string) => void | Promise<void>): () => Promise<void> {
  return async () => {
    const dir = Deno.makeTempDirSync({ prefix: "echolab-durable-" });
    try {
      await fn(dir);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  };
}

/** The CSV's records, refusing a cut row (csv-parse checks every record's length). */
const records = (text: string) => parse(text, { columns: true }) as Record<string, string>[];

Deno.test(
  "CsvLog: short writes are finished, so every row is whole",
  withDir((dir) => {
    const disk: FakeDisk = { room: Infinity, chunk: 3, error: enospc, writes: 0 };
    const log = CsvLog.create(`${dir}/a.csv`, COLUMNS, { open: fakeDisk(disk) });
    log.append(row(1, 1), row(2, 1));
    log.append(row(1, 2));
    const text = Deno.readTextFileSync(log.path);
    assert.ok(disk.writes > 10, `the fake disk wrote in pieces (${disk.writes} writes)`);
    assert.equal(text.split("\n")[1], '1,1,0.25,"a,b"');
    assert.deepEqual(records(text).map((r) => [r.seed, r.epoch]), [["1", "1"], ["2", "1"], ["1", "2"]]);
    assert.equal(log.rows, 3);
  }),
);

Deno.test(
  "CsvLog: a disk that fills mid-row leaves the file cut back to its last whole row, and says how many",
  withDir((dir) => {
    const path = `${dir}/full.csv`;
    const disk: FakeDisk = { room: 410, chunk: 64, error: enospc, writes: 0 };
    const log = CsvLog.create(path, COLUMNS, { open: fakeDisk(disk) });
    let err: unknown;
    let epoch = 0;
    try {
      for (epoch = 1; epoch < 100; epoch++) log.append(row(1, epoch), row(2, epoch), row(3, epoch));
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof WriteError, `a WriteError, got ${err}`);
    const text = Deno.readTextFileSync(path);
    const kept = records(text);
    assert.equal(disk.peak, disk.room, "the failing append filled the disk with part of a row");
    assert.ok(text.endsWith("\n"), "the file ends with a whole row");
    assert.equal(kept.length, 3 * (epoch - 1), "every epoch before the failing one is kept whole");
    assert.equal(err.message, `${path}: disk full; the file holds its header and ${kept.length} whole rows`);
    assert.equal(err.rows, kept.length);
    assert.equal(err.offset, new TextEncoder().encode(text).length);
    assert.equal(err.message.split("\n").length, 1);
    // Once there is room again, appends go on from the last whole row.
    disk.room = Infinity;
    log.append(row(9, 9));
    assert.deepEqual(records(Deno.readTextFileSync(path)).at(-1)?.seed, "9");
    assert.equal(records(Deno.readTextFileSync(path)).length, kept.length + 1);
  }),
);

Deno.test(
  "CsvLog: on EIO the message names the byte its last whole row ends at, also when cutting back fails",
  withDir((dir) => {
    const path = `${dir}/eio.csv`;
    const disk: FakeDisk = { room: 300, chunk: 1000, error: eio, truncateError: eio, writes: 0 };
    const log = CsvLog.create(path, COLUMNS, { open: fakeDisk(disk) });
    let err: unknown, whole = 0;
    try {
      for (let epoch = 1; epoch < 100; epoch++) {
        log.append(row(1, epoch), row(2, epoch));
        whole = Deno.statSync(path).size;
      }
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof WriteError, `a WriteError, got ${err}`);
    const bytes = Deno.readFileSync(path);
    assert.ok(bytes.length > whole, "the cut could not be undone: part of a row is there");
    assert.equal(
      err.message,
      `${path}: Input/output error (os error 5); its last whole row ends at byte ${whole}, ` +
        `and cutting it back there failed (Input/output error (os error 5))`,
    );
    const upToB = records(new TextDecoder().decode(bytes.subarray(0, err.offset)));
    assert.ok(upToB.length >= 2 && upToB.length === log.rows, "whole rows up to byte B");
    assert.throws(() => log.append(row(3, 3)), (e) => e === err, "a file that could not be cut back stays failed");

    // EROFS where the cut works: cut back, and still the byte offset.
    const path2 = `${dir}/erofs.csv`;
    const ro: FakeDisk = { room: 100, chunk: 1000, writes: 0, error: () => osError("EROFS", "Read-only file system") };
    const log2 = CsvLog.create(path2, COLUMNS, { open: fakeDisk(ro) });
    log2.append(row(1, 1));
    const end = Deno.statSync(path2).size;
    assert.throws(
      () => log2.append(row(1, 2), row(2, 2), row(3, 2), row(4, 2)),
      (e) =>
        e instanceof WriteError &&
        e.message === `${path2}: Read-only file system; its last whole row ends at byte ${end}`,
    );
    assert.equal(Deno.statSync(path2).size, end);
  }),
);

Deno.test(
  "writeFileAtomic: a failed write leaves the old file as it was and no temporary file",
  withDir((dir) => {
    const path = `${dir}/summary.md`;
    writeFileAtomic(path, "old\n");
    const disk: FakeDisk = { room: 100, chunk: 30, error: enospc, writes: 0 };
    assert.throws(
      () => writeFileAtomic(path, "x".repeat(1000), { open: fakeDisk(disk) }),
      (e) => e instanceof WriteError && e.message === `${path}: disk full; nothing written, the file is as it was`,
    );
    assert.ok(disk.writes > 1, "the temporary file was being written");
    assert.equal(Deno.readTextFileSync(path), "old\n");
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["summary.md"], "no temporary file is left");
    // createNew never replaces; a plain write replaces whole.
    assert.throws(() => writeFileAtomic(path, "new\n", { createNew: true }), Deno.errors.AlreadyExists);
    assert.equal(Deno.readTextFileSync(path), "old\n");
    writeFileAtomic(path, new TextEncoder().encode("new\n"));
    writeFileAtomic(`${dir}/other.md`, "other\n", { createNew: true });
    assert.equal(Deno.readTextFileSync(path), "new\n");
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["other.md", "summary.md"]);
  }),
);

/** Runs `script` in bash; its exit code and stderr. */
async function sh(script: string): Promise<{ code: number; stderr: string }> {
  const r = await new Deno.Command("bash", { args: ["-c", script], stdout: "null", stderr: "piped" }).output();
  return { code: r.code, stderr: new TextDecoder().decode(r.stderr).trim() };
}

Deno.test("a real full disk: echo3 on a 64 KiB tmpfs stops with one line and exit 1, keeping whole rows", async () => {
  const mnt = Deno.makeTempDirSync({ prefix: "echolab-tmpfs-" });
  try {
    const mount = await sh(`mount -t tmpfs -o size=64k tmpfs '${mnt}'`);
    if (mount.code !== 0) {
      console.log(`skipped: cannot mount a tmpfs here (${mount.stderr.split("\n")[0]}); run the tests as root`);
      return;
    }
    try {
      const published = `${mnt}/published.md`;
      writeFileAtomic(published, "published\n");
      const r = await runDeno("experiments/echo3.ts", [
        ...["--epochs", "50", "--seeds", "40", "--series", "200", "--bptt", "20", "--backend", "cpu"],
        ...["--out", mnt],
      ], mnt);
      assert.equal(r.code, 1, r.stderr);
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, `one line on stderr: ${r.stderr}`);
      const m = /^error: (\/.+\.csv): disk full; the file holds its header and (\d+) whole rows$/.exec(lines[0]);
      assert.ok(m, lines[0]);
      const text = Deno.readTextFileSync(m[1]);
      assert.ok(text.endsWith("\n"), "the file ends with a whole row");
      const rows = records(text);
      assert.equal(rows.length, Number(m[2]), "the message counts the rows the file holds");
      assert.ok(rows.length > 0 && rows.every((x) => x.status === "ok" && x.run_id === rows[0].run_id));
      // The disk is still full: replacing a file fails whole, leaving it as it was and no temporary file.
      assert.throws(() => writeFileAtomic(published, "x".repeat(65536)), /disk full; nothing written/);
      assert.equal(Deno.readTextFileSync(published), "published\n");
      assert.equal([...Deno.readDirSync(mnt)].length, 2, "the CSV and published.md, nothing else");
    } finally {
      const umount = await sh(`umount '${mnt}'`);
      assert.equal(umount.code, 0, umount.stderr);
    }
  } finally {
    Deno.removeSync(mnt, { recursive: true });
  }
});
